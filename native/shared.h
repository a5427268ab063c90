// What native/dir_listing.c shares with native/restore.c.
#pragma once
#include <node_api.h>
#include <openssl/evp.h>

// An Error like Node's for a failed system call: code, errno, syscall, path.
napi_value gage_errno_error(napi_env env, int err, const char *syscall, const char *path);
// SHA-256, fetched once.
const EVP_MD *gage_sha256(void);
// restoreFilesAsync (native/restore.c).
napi_value restore_files_async(napi_env env, napi_callback_info info);
