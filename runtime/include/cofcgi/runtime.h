// Everything the runtime layer offers, in one include.
#pragma once

#include "cofcgi/runtime/cancel.h"
#include "cofcgi/runtime/channel.h"
#include "cofcgi/runtime/cond_var.h"
#include "cofcgi/runtime/coroutine.h"
#include "cofcgi/runtime/local.h"
#include "cofcgi/runtime/log.h"
#include "cofcgi/runtime/mutex.h"
#include "cofcgi/runtime/netpoll.h"
#include "cofcgi/runtime/options.h"
#include "cofcgi/runtime/scheduler.h"
#include "cofcgi/runtime/semaphore.h"
#include "cofcgi/runtime/sleep.h"
#include "cofcgi/runtime/wait_group.h"
#include "cofcgi/runtime/wait_queue.h"
