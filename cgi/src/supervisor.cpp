#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <system_error>
#include <vector>

#include "cofcgi/runtime/log.h"
#include "reload.h"
#include "systemd_notify.h"

namespace co::cgi::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// SupervisorPhase, with its transitions:
//   serving   -> reloading   SIGHUP/SIGUSR2: a new master is started from the program on disk
//   reloading -> serving     the new master failed (exited, or not serving in reload_timeout)
//   reloading -> retiring    the new master serves: our workers hand over and leave
//   serving, reloading -> stopping   SIGTERM/SIGINT, or too many crashes
// retiring and stopping end once no worker is left.
enum class SupervisorPhase { serving, reloading, retiring, stopping };

struct WorkerProcess {
  pid_t pid = -1;
  int index = 0;
  co::UniqueFd ready;  // open until the worker says it serves
  Clock::time_point started;
};

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return std::string("killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")" +
           (WCOREDUMP(status) ? ", core dumped" : "");
  }
  return "status " + std::to_string(status);
}

bool crashed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

// What a dead worker was serving, from its slot: the requests whose handlers had started and
// not ended are lost with it (nginx gets a broken connection for each). A slot that a later
// worker claimed, or that the dead one never claimed, says nothing about it.
std::string describe_lost(WorkerSlots& slots, const WorkerProcess& w) {
  const WorkerCounters& slot = slots.slot(static_cast<std::size_t>(w.index));
  if (slot.pid.load(std::memory_order_acquire) != w.pid) return "";
  const std::int64_t lost = slot.in_flight.load(std::memory_order_relaxed);
  if (lost <= 0) return ", no request in flight";
  return ", " + std::to_string(lost) + (lost == 1 ? " request" : " requests") + " in flight lost";
}

int millis_until(Clock::time_point when) {
  const auto left = std::chrono::duration_cast<milliseconds>(when - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60000));
}

class Supervisor {
 public:
  Supervisor(const ServerOptions& options, Listener listener);
  SupervisorOutcome run();

 private:
  bool leaving() const {
    return phase_ == SupervisorPhase::retiring || phase_ == SupervisorPhase::stopping;
  }
  void spawn(int index);
  void poll_once();
  void on_signals();
  void reap();
  void on_worker_exit(std::size_t at, int status);
  void on_worker_ready(WorkerProcess& w);
  void on_new_master_ready();
  void begin_reload();
  void reload_failed(const std::string& why);
  void leave(SupervisorPhase phase);
  void check_deadlines();
  void write_pid_file() const;
  std::string status_line() const;

  const ServerOptions& options_;
  const pid_t pid_ = ::getpid();
  ProgramImage image_ = current_program();
  Listener listener_;
  std::string unix_path_;  // the socket file to remove when the service stops for good
  sigset_t old_mask_;
  co::UniqueFd signals_;
  co::UniqueFd lifeline_read_, lifeline_write_;  // workers hold the read end
  co::UniqueFd reload_ready_;  // a master started by a reload: tells the old one we serve
  std::vector<WorkerProcess> workers_;
  std::deque<Clock::time_point> crashes_;  // within emergency_restart_interval
  SupervisorPhase phase_ = SupervisorPhase::serving;
  bool announced_ = false;  // every worker served once: READY, pid file, old master told
  NewMaster new_master_;
  pid_t successor_ = -1;
  Clock::time_point reload_deadline_, kill_deadline_, next_watchdog_;
  milliseconds watchdog_ = watchdog_interval();
  int restarts_ = 0;
  int exit_code_ = 0;
  std::optional<WorkerRole> role_;  // set in a forked child: leave at once
  // One slot of counters per worker index, shared with the workers (worker_slots.h): made
  // before the first fork, so every worker maps the same pages.
  WorkerSlots slots_ = WorkerSlots::create(static_cast<std::size_t>(options_.workers));
};

Supervisor::Supervisor(const ServerOptions& options, Listener listener)
    : options_(options), listener_(std::move(listener)) {
  check_credentials(options_);
  unix_path_ = listener_.unix_path;
  listener_.unix_path.clear();
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&mask, sig);
  // Blocked for good: workers and a new master inherit the mask, so a signal sent before
  // they read their own signalfd waits for them instead of killing them.
  sigprocmask(SIG_BLOCK, &mask, &old_mask_);
  signals_.reset(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signals_) throw std::system_error(errno, std::generic_category(), "signalfd");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  lifeline_read_.reset(fds[0]);
  lifeline_write_.reset(fds[1]);
  reload_ready_ = take_reload_ready_fd();
}

SupervisorOutcome Supervisor::run() {
  co::log_printf(co::LogLevel::info, "supervisor pid %d: %d worker%s on %s", pid_, options_.workers,
                 options_.workers == 1 ? "" : "s", listener_.bound.c_str());
  next_watchdog_ = Clock::now();
  for (int i = 0; i < options_.workers && !role_; ++i) spawn(i);
  while (!role_ && !(leaving() && workers_.empty())) poll_once();
  if (role_) return SupervisorOutcome{0, std::move(role_)};
  if (phase_ == SupervisorPhase::stopping) {
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
    if (!options_.pid_file.empty()) ::unlink(options_.pid_file.c_str());
  }
  signals_.reset();
  sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  co::log_printf(co::LogLevel::info, "supervisor pid %d: %s", pid_,
                 phase_ == SupervisorPhase::retiring ? "handed over, exiting" : "stopped");
  return SupervisorOutcome{exit_code_, std::nullopt};
}

// spawn forks worker `index`. In the child it only sets role_: run() returns it, and the
// supervisor's objects are destroyed on the way out (closing the child's copies of its fds).
void Supervisor::spawn(int index) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  co::UniqueFd ready_read(fds[0]), ready_write(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    enter_worker(options_, pid_);
    WorkerRole role;
    role.index = index;
    role.listener = std::move(listener_);
    role.lifeline = std::move(lifeline_read_);
    role.ready = std::move(ready_write);
    role.slots = std::move(slots_);
    role_.emplace(std::move(role));
    return;
  }
  workers_.push_back(WorkerProcess{pid, index, std::move(ready_read), Clock::now()});
}

void Supervisor::poll_once() {
  std::vector<pollfd> fds;
  fds.push_back({signals_.get(), POLLIN, 0});
  fds.push_back({new_master_.ready ? new_master_.ready.get() : -1, POLLIN, 0});
  for (const WorkerProcess& w : workers_) fds.push_back({w.ready ? w.ready.get() : -1, POLLIN, 0});
  int timeout = 1000;
  if (watchdog_.count() > 0) timeout = std::min(timeout, millis_until(next_watchdog_));
  if (phase_ == SupervisorPhase::reloading)
    timeout = std::min(timeout, millis_until(reload_deadline_));
  if (leaving()) timeout = std::min(timeout, millis_until(kill_deadline_));
  const int n = ::poll(fds.data(), fds.size(), timeout);
  if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
  // Workers first (by pid: on_signals may change the vector), then the rest.
  std::vector<pid_t> ready_pids;
  for (std::size_t i = 2; i < fds.size(); ++i) {
    if (fds[i].revents != 0) ready_pids.push_back(workers_[i - 2].pid);
  }
  for (pid_t pid : ready_pids) {
    for (WorkerProcess& w : workers_) {
      if (w.pid == pid) on_worker_ready(w);
    }
  }
  if (fds[1].revents != 0) on_new_master_ready();
  if (fds[0].revents != 0) on_signals();
  if (!role_) check_deadlines();
}

void Supervisor::on_signals() {
  signalfd_siginfo info;
  while (!role_ &&
         ::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      reap();
    } else if (sig == SIGHUP || sig == SIGUSR2) {
      begin_reload();
    } else if (sig == SIGUSR1) {
      // Each worker reopens its own log files (and the supervisor its own).
      co::log_printf(co::LogLevel::info, "got SIGUSR1: passed to the workers");
      for (const WorkerProcess& w : workers_) ::kill(w.pid, SIGUSR1);
      (void)co::reopen_log_file();  // the supervisor's own: fd 2, when --error-log is set
    } else if (!leaving()) {
      co::log_printf(co::LogLevel::info, "got %s: stopping the workers", strsignal(sig));
      leave(SupervisorPhase::stopping);
    }
  }
}

void Supervisor::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == new_master_.pid) {
      new_master_.pid = -1;
      if (phase_ == SupervisorPhase::reloading)
        reload_failed("the new master " + describe_exit(status));
      continue;
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (workers_[i].pid == pid) {
        on_worker_exit(i, status);
        break;
      }
    }
    if (role_) return;
  }
}

// on_worker_exit: a worker that leaves unasked is replaced; crashes count towards the
// emergency stop (php-fpm's emergency_restart_threshold/interval).
void Supervisor::on_worker_exit(std::size_t at, int status) {
  const WorkerProcess w = std::move(workers_[at]);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(at));
  const std::string lost = crashed(status) ? describe_lost(slots_, w) : "";
  if (leaving()) {
    co::log_printf(crashed(status) ? co::LogLevel::warning : co::LogLevel::info,
                   "worker %d (pid %d) %s%s", w.index, w.pid, describe_exit(status).c_str(),
                   lost.c_str());
    return;
  }
  // Its counters leave the status page's sum until a worker claims the slot again.
  slots_.slot(static_cast<std::size_t>(w.index)).pid.store(0, std::memory_order_release);
  co::log_printf(crashed(status) ? co::LogLevel::error : co::LogLevel::info,
                 "worker %d (pid %d) %s%s; starting another", w.index, w.pid,
                 describe_exit(status).c_str(), lost.c_str());
  if (crashed(status)) {
    const Clock::time_point now = Clock::now();
    crashes_.push_back(now);
    while (!crashes_.empty() && now - crashes_.front() > options_.emergency_restart_interval)
      crashes_.pop_front();
    const int threshold = options_.emergency_restart_threshold;
    if (threshold > 0 && static_cast<int>(crashes_.size()) >= threshold) {
      co::log_printf(co::LogLevel::error,
                     "%d worker crashes within %lld ms (emergency_restart_threshold): stopping",
                     threshold,
                     static_cast<long long>(options_.emergency_restart_interval.count()));
      exit_code_ = 1;
      leave(SupervisorPhase::stopping);
      return;
    }
  }
  ++restarts_;
  spawn(w.index);
}

void Supervisor::on_worker_ready(WorkerProcess& w) {
  char byte = 0;
  const ssize_t n = ::read(w.ready.get(), &byte, 1);
  w.ready.reset();  // either it serves, or it died before (its exit is reaped)
  if (n != 1) return;
  const long long ms = std::chrono::duration_cast<milliseconds>(Clock::now() - w.started).count();
  co::log_printf(co::LogLevel::info, "worker %d (pid %d) serving, %lld ms after its start", w.index,
                 w.pid, ms);
  if (announced_) return;
  const bool all_serving = static_cast<int>(workers_.size()) == options_.workers &&
                           std::none_of(workers_.begin(), workers_.end(),
                                        [](const WorkerProcess& p) { return bool(p.ready); });
  if (!all_serving) return;
  announced_ = true;
  write_pid_file();
  notify_ready(status_line());
  announce_serving(reload_ready_);  // a master started by a reload: the old one retires now
  co::log_printf(co::LogLevel::info, "serving FastCGI on %s with %d workers",
                 listener_.bound.c_str(), options_.workers);
}

void Supervisor::on_new_master_ready() {
  char byte = 0;
  const ssize_t n = ::read(new_master_.ready.get(), &byte, 1);
  new_master_.ready.reset();
  if (phase_ != SupervisorPhase::reloading) return;
  // EOF: it is exiting (a bad config file, say); reap() reports how, with its status.
  if (n != 1) return;
  successor_ = new_master_.pid;
  co::log_printf(co::LogLevel::info, "reload: the new master (pid %d) serves; handing over",
                 successor_);
  leave(SupervisorPhase::retiring);
}

void Supervisor::begin_reload() {
  if (phase_ != SupervisorPhase::serving) {
    if (phase_ == SupervisorPhase::retiring) {
      co::log_printf(co::LogLevel::warning, "reload ignored: handed over to pid %d, which reloads",
                     successor_);
    } else {
      co::log_printf(co::LogLevel::warning, "reload ignored: %s",
                     phase_ == SupervisorPhase::reloading ? "a reload is in progress" : "stopping");
    }
    return;
  }
  co::log_printf(co::LogLevel::info, "reload: starting %s", image_.path.c_str());
  notify_reloading();
  try {
    new_master_ = start_new_master(image_, listener_);
  } catch (const std::system_error& e) {
    reload_failed(e.what());
    return;
  }
  reload_deadline_ = Clock::now() + options_.reload_timeout;
  phase_ = SupervisorPhase::reloading;
}

void Supervisor::reload_failed(const std::string& why) {
  co::log_printf(co::LogLevel::error, "reload failed: %s; the old workers keep serving",
                 why.c_str());
  if (new_master_.pid > 0) ::kill(new_master_.pid, SIGKILL);  // reaped later, ignored
  new_master_.ready.reset();
  phase_ = SupervisorPhase::serving;
  notify_ready(status_line());
}

// leave: stop accepting (our copy of the socket goes; a successor holds its own) and ask
// every worker to hand over: it serves what it has and exits. SIGKILL after the grace.
void Supervisor::leave(SupervisorPhase phase) {
  if (phase == SupervisorPhase::stopping) {
    notify_stopping();
    if (phase_ == SupervisorPhase::reloading && new_master_.pid > 0)
      ::kill(new_master_.pid, SIGTERM);
  }
  phase_ = phase;
  listener_.fd.reset();
  for (const WorkerProcess& w : workers_) ::kill(w.pid, SIGTERM);
  kill_deadline_ = Clock::now() + options_.grace_period + std::chrono::seconds(2);
}

void Supervisor::check_deadlines() {
  const Clock::time_point now = Clock::now();
  if (watchdog_.count() > 0 && now >= next_watchdog_) {
    notify_watchdog();
    next_watchdog_ = now + watchdog_;
  }
  if (phase_ == SupervisorPhase::reloading && now >= reload_deadline_) {
    reload_failed("the new master did not serve within " +
                  std::to_string(options_.reload_timeout.count()) + " ms");
  }
  if (leaving() && now >= kill_deadline_) {
    for (const WorkerProcess& w : workers_) {
      co::log_printf(co::LogLevel::warning,
                     "worker %d (pid %d) still running after the grace "
                     "period: SIGKILL",
                     w.index, w.pid);
      ::kill(w.pid, SIGKILL);
    }
    kill_deadline_ = now + std::chrono::seconds(5);
  }
}

void Supervisor::write_pid_file() const {
  if (options_.pid_file.empty()) return;
  // Written aside and renamed: a reader never sees a half-written pid.
  const std::string tmp = options_.pid_file + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  bool written = f != nullptr && std::fprintf(f, "%d\n", pid_) > 0;
  if (f != nullptr) written = std::fclose(f) == 0 && written;
  if (!written || std::rename(tmp.c_str(), options_.pid_file.c_str()) != 0) {
    co::log_printf(co::LogLevel::error, "pid file %s: %s", options_.pid_file.c_str(),
                   std::strerror(errno));
  }
}

std::string Supervisor::status_line() const {
  return std::to_string(workers_.size()) + " workers serving on " + listener_.bound + ", " +
         std::to_string(restarts_) + " restarts";
}

}  // namespace

SupervisorOutcome run_supervisor(const ServerOptions& options, Listener listener) {
  Supervisor supervisor(options, std::move(listener));
  return supervisor.run();
}

}  // namespace co::cgi::detail
