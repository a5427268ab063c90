// What native/dir_listing.c shares with native/restore.c.
#pragma once
#include <errno.h>
#include <limits.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

// An Error like Node's for a failed system call: code, errno, syscall, path.
napi_value gage_errno_error(napi_env env, int err, const char *syscall, const char *path);
// SHA-256, fetched once.
const EVP_MD *gage_sha256(void);
// restoreFilesAsync (native/restore.c).
napi_value restore_files_async(napi_env env, napi_callback_info info);
// restoreChunkedAsync (native/restore.c).
napi_value restore_chunked_async(napi_env env, napi_callback_info info);
// Creates `path` (relative to `dir_fd`, or AT_FDCWD; O_EXCL, with `mode`), writes `body`, gives it `mtime_us` when >= 0, fsyncs it when
// asked, and closes it; with `st`, stamps it (setting a mode a umask narrowed). 0 or an errno, `call`
// naming the call that failed (native/restore.c).
int gage_create_file(int dir_fd, const char *path, uint32_t mode, const unsigned char *body, size_t size, double mtime_us, bool fsync, struct stat *st, const char **call);
// Runs fn(arg) on `threads` threads, this one among them (no more than `count`), and waits for them.
void gage_run_threads(void *(*fn)(void *), void *arg, uint32_t threads, size_t count);
// gitCheckoutAsync (native/git_checkout.c).
napi_value git_checkout_async(napi_env env, napi_callback_info info);
// cdcCuts (native/cdc.c).
napi_value cdc_cuts(napi_env env, napi_callback_info info);
// gitInflateSync (native/git_checkout.c).
napi_value git_inflate_sync(napi_env env, napi_callback_info info);

// Milliseconds as Node computes mtimeMs and ctimeMs, so that stamps from here and from node:fs agree.
static inline double gage_ms(struct timespec t) { return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6; }

// A file's stamp as the callers read it (4 numbers at `out`): size, mtimeMs, ctimeMs, ino.
static inline void gage_set_stamp(double *out, const struct stat *st) {
  out[0] = (double)st->st_size;
  out[1] = gage_ms(st->st_mtim);
  out[2] = gage_ms(st->st_ctim);
  out[3] = (double)st->st_ino;
}

// A whole number JavaScript holds exactly (an offset or size a job names as a double).
static inline bool gage_whole_number(double v) { return v >= 0 && v <= 9007199254740991.0 && v == (double)(int64_t)v; }

// The stamps argument of a batch: a Float64Array of at least `count` * 4 (filled as files are written).
static inline bool gage_stamps_arg(napi_env env, napi_value value, size_t count, double **out) {
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < count * 4) return false;
  *out = data;
  return true;
}

// A batch of `count` jobs that threads take one at a time (gage_run_threads), off the JavaScript
// thread (libuv's pool), settling a promise. The first failure stops the rest and rejects it with
// { code, syscall, path } (and `index`, the job that failed). The first member of each batch.
typedef struct {
  size_t count, next;
  uint32_t threads;
  pthread_mutex_t lock;
  int err;
  const char *err_call;
  char err_path[PATH_MAX];
  int64_t err_index;
  napi_deferred deferred;
  napi_async_work work;
} GageQueue;

static inline void gage_queue_init(GageQueue *q, size_t count, uint32_t threads) {
  q->count = count;
  q->threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
  q->err_index = -1;
  pthread_mutex_init(&q->lock, NULL);
}

// The next job's index, or `count` once every job is taken or one failed.
static inline size_t gage_queue_next(GageQueue *q) {
  pthread_mutex_lock(&q->lock);
  size_t i = q->err == 0 && q->next < q->count ? q->next++ : q->count;
  pthread_mutex_unlock(&q->lock);
  return i;
}

// Notes a failure; true for the first (the one reported).
static inline bool gage_queue_fail(GageQueue *q, int err, const char *call, const char *path, int64_t index) {
  pthread_mutex_lock(&q->lock);
  bool first = q->err == 0;
  if (first) {
    q->err = err;
    q->err_call = call;
    q->err_index = index;
    snprintf(q->err_path, sizeof q->err_path, "%s", path);
  }
  pthread_mutex_unlock(&q->lock);
  return first;
}

// Queues `execute` and `complete` with `data` (whose first member is `q`): the promise, or NULL
// with an error thrown.
static inline napi_value gage_queue_start(napi_env env, GageQueue *q, const char *name, napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_value promise, resource;
  napi_create_promise(env, &q->deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_async_work(env, NULL, resource, execute, complete, q, &q->work) != napi_ok || napi_queue_async_work(env, q->work) != napi_ok) {
    napi_throw_error(env, NULL, "cannot queue a batch of native work");
    return NULL;
  }
  return promise;
}

// In `complete`: the Error to reject with (with `index` when `with_index`), or NULL when all went well.
static inline napi_value gage_queue_error(napi_env env, napi_status status, GageQueue *q, bool with_index) {
  if (status == napi_ok && q->err == 0) return NULL;
  napi_value error = gage_errno_error(env, q->err != 0 ? q->err : ECANCELED, q->err != 0 ? q->err_call : "write", q->err_path);
  if (error == NULL) {
    napi_value msg;
    napi_create_string_utf8(env, "out of memory", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
  }
  if (with_index) {
    napi_value index;
    napi_create_int64(env, q->err_index, &index);
    napi_set_named_property(env, error, "index", index);
  }
  return error;
}

// Settles the promise (rejected with `error`, resolved when it is NULL) and deletes the work.
static inline void gage_queue_settle(napi_env env, GageQueue *q, napi_value error) {
  if (error != NULL) napi_reject_deferred(env, q->deferred, error);
  else {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, q->deferred, undef);
  }
  napi_delete_async_work(env, q->work);
}
