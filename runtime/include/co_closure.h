/*
 * libco's closure macros, source-compatible: co_ref(name, vars...) makes an object `name`
 * holding references to up to 7 variables; co_func(name, vars...) { body } co_func_end
 * declares a class `name` (a stCoClosure_t) holding copies of them, whose exec() runs body.
 *
 *   co_ref(ref, total);
 *   co_func(task, ref, i) { printf("%d %d\n", ref.total, i); } co_func_end;
 *   stCoClosure_t* t = new task(ref, i); t->exec();
 */
#ifndef COFCGI_CO_CLOSURE_H
#define COFCGI_CO_CLOSURE_H

struct stCoClosure_t {
 public:
  virtual void exec() = 0;
  virtual ~stCoClosure_t() {}
};

/* Argument counting and repetition, up to 7 captured names. */
#define cofcgi_cl_nth(_1, _2, _3, _4, _5, _6, _7, N, ...) N
#define cofcgi_cl_count(...) cofcgi_cl_nth(__VA_ARGS__, 7, 6, 5, 4, 3, 2, 1, 0)
#define cofcgi_cl_cat2(a, b) a##b
#define cofcgi_cl_cat(a, b) cofcgi_cl_cat2(a, b)
#define cofcgi_cl_each_0(m, ...)
#define cofcgi_cl_each_1(m, a, ...) m(a)
#define cofcgi_cl_each_2(m, a, ...) m(a) cofcgi_cl_each_1(m, __VA_ARGS__)
#define cofcgi_cl_each_3(m, a, ...) m(a) cofcgi_cl_each_2(m, __VA_ARGS__)
#define cofcgi_cl_each_4(m, a, ...) m(a) cofcgi_cl_each_3(m, __VA_ARGS__)
#define cofcgi_cl_each_5(m, a, ...) m(a) cofcgi_cl_each_4(m, __VA_ARGS__)
#define cofcgi_cl_each_6(m, a, ...) m(a) cofcgi_cl_each_5(m, __VA_ARGS__)
#define cofcgi_cl_each_7(m, a, ...) m(a) cofcgi_cl_each_6(m, __VA_ARGS__)
#define cofcgi_cl_each(m, ...) \
  cofcgi_cl_cat(cofcgi_cl_each_, cofcgi_cl_count(__VA_ARGS__))(m, __VA_ARGS__)

/* Per captured name: its type, a reference or copy member, a constructor parameter, and the
 * member's initialiser. The trailing `...` parameter and member count keep the lists
 * comma-safe. */
#define cofcgi_cl_typedef(a) typedef __typeof__(a) cofcgi_cl_type_##a;
#define cofcgi_cl_ref_member(a) cofcgi_cl_type_##a& a;
#define cofcgi_cl_copy_member(a) cofcgi_cl_type_##a a;
#define cofcgi_cl_param(a) cofcgi_cl_type_##a &a##_arg,
#define cofcgi_cl_init(a) a(a##_arg),

#define co_ref(name, ...)                                                                          \
  cofcgi_cl_each(cofcgi_cl_typedef, __VA_ARGS__) class type_##name {                               \
   public:                                                                                         \
    cofcgi_cl_each(cofcgi_cl_ref_member, __VA_ARGS__) int _member_cnt;                             \
    type_##name(cofcgi_cl_each(cofcgi_cl_param, __VA_ARGS__)...)                                   \
        : cofcgi_cl_each(cofcgi_cl_init, __VA_ARGS__) _member_cnt(cofcgi_cl_count(__VA_ARGS__)) {} \
  } name(__VA_ARGS__)

#define co_func(name, ...)                                                                         \
  cofcgi_cl_each(cofcgi_cl_typedef, __VA_ARGS__) class name : public stCoClosure_t {               \
   public:                                                                                         \
    cofcgi_cl_each(cofcgi_cl_copy_member, __VA_ARGS__) int _member_cnt;                            \
    name(cofcgi_cl_each(cofcgi_cl_param, __VA_ARGS__)...)                                          \
        : cofcgi_cl_each(cofcgi_cl_init, __VA_ARGS__) _member_cnt(cofcgi_cl_count(__VA_ARGS__)) {} \
    void exec()

#define co_func_end }

#endif /* COFCGI_CO_CLOSURE_H */
