// What native/dir_listing.c shares with native/restore.c.
#pragma once
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <openssl/evp.h>

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
// gitInflateSync (native/git_checkout.c).
napi_value git_inflate_sync(napi_env env, napi_callback_info info);
