// restoreFilesAsync(packs, dirs, jobs, count, threads, fsync, stamps): new files written from
// ranges of local pack files, on several threads. Each object is read with one pread, its SHA-256 checked
// against its id before its file is created (O_EXCL, with its mode), then written, given its time
// (futimens), stamped (fstat) and closed: a clone of a local folder remote restores its small files
// without a JavaScript buffer, hash or promise per file (src/objects/restore-native.ts).
//
// Job: [pack index u32][length u32][offset f64][sha256 32 bytes][mode u32][mtime µs f64, -1: none]
// [folder index u32][name length u16][name]: the file is `name` (one path segment) in folder
// `dirs[folder index]`, created relative to that folder's descriptor (no path walk per file, and
// no full path built per file on the JavaScript thread). `stamps` (a Float64Array of count * 4)
// gets each file's size, mtimeMs, ctimeMs and ino as written. Every pack is opened (a regular
// file, else refused), and every folder, before any file is written. A failure rejects with { code, syscall, path, index }: syscall "verify" with EBADMSG
// for bytes that do not hash to their id, "read" with EBADMSG for a range past the pack's end.
//
// restoreChunkedAsync(packs, dirs, jobs, count, threads, fsync, stamps): the same for files stored
// in chunks, a file per job: its chunks read in order, each checked against its id, the file
// created (O_EXCL, its mode) before the first is written and the whole checked against the file's
// id and size after the last; a file that fails is removed. Job: [folder index u32][name length
// u16][chunk count u32][mode u32][mtime µs f64][size f64][sha256 32][name], then per chunk
// [pack index u32][length u32][offset f64][sha256 32]. A failure's `chunk` is the chunk that failed, -1 for the whole file.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "shared.h"

#define JOB_HEADER 66
#define CHUNKED_HEADER 62
#define CHUNK_RECORD 48
// The caller sends larger objects another way; this bounds each thread's buffer.
#define MAX_JOB_BYTES (64u << 20)

typedef struct {
  GageQueue q;
  napi_ref jobs_ref, stamps_ref;
  const unsigned char *jobs;
  size_t *offsets;
  char **pack_paths;
  uint32_t npacks;
  int *pack_fds;
  off_t *pack_sizes;
  char **dir_paths;
  uint32_t ndirs;
  int *dir_fds;
  uint32_t max_len;
  double *stamps;
  bool fsync;
  bool chunked;
  int64_t err_chunk;
} Restore;

// Gives an open file its time (when mtime_us >= 0), stamps it into `st` when given (setting a mode
// a umask narrowed), fsyncs it when asked and closes it, after `err` (0, or what failed before).
static int finish_file(int fd, int err, uint32_t mode, double mtime_us, bool fsync_it, struct stat *st, const char **call) {
  if (err == 0 && mtime_us >= 0) {
    int64_t us = (int64_t)mtime_us;
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = (time_t)(us / 1000000);
    ts[0].tv_nsec = ts[1].tv_nsec = (long)(us % 1000000) * 1000;
    if (futimens(fd, ts) != 0) err = errno, *call = "futimens";
  }
  if (err == 0 && st != NULL && fstat(fd, st) != 0) err = errno, *call = "fstat";
  // A umask took bits away from the mode open gave.
  if (err == 0 && st != NULL && (st->st_mode & 0777) != (mode & 0777)) {
    if (fchmod(fd, (mode_t)mode) != 0 || fstat(fd, st) != 0) err = errno, *call = "fchmod";
  }
  if (err == 0 && fsync_it && fsync(fd) != 0) err = errno, *call = "fsync";
  if (close(fd) != 0 && err == 0) err = errno, *call = "close";
  return err;
}

// Writes all of `len` bytes: 0 or an errno.
static int write_all(int fd, const unsigned char *body, size_t len) {
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, body + done, len - done);
    if (n >= 0) done += (size_t)n;
    else if (errno != EINTR) return errno;
  }
  return 0;
}

int gage_create_file(int dir_fd, const char *path, uint32_t mode, const unsigned char *body, size_t size, double mtime_us, bool fsync_it, struct stat *st, const char **call) {
  *call = "open";
  int fd = openat(dir_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return errno;
  int err = write_all(fd, body, size);
  if (err != 0) *call = "write";
  return finish_file(fd, err, mode, mtime_us, fsync_it, st, call);
}

void gage_run_threads(void *(*fn)(void *), void *arg, uint32_t threads, size_t count) {
  pthread_t helpers[64];
  uint32_t started = 0;
  for (; started + 1 < threads && started + 1 < count && started < 64; started++) {
    if (pthread_create(&helpers[started], NULL, fn, arg) != 0) break;
  }
  fn(arg);
  for (uint32_t i = 0; i < started; i++) pthread_join(helpers[i], NULL);
}

// Reads `len` bytes of pack `pack` at `at` into buf: 0, EBADMSG past the pack's end, or an errno.
static int read_range(Restore *r, uint32_t pack, off_t at, uint32_t len, unsigned char *buf) {
  if (at + (off_t)len > r->pack_sizes[pack]) return EBADMSG;
  for (size_t got = 0; got < len;) {
    ssize_t n = pread(r->pack_fds[pack], buf + got, len - got, at + (off_t)got);
    if (n > 0) got += (size_t)n;
    else if (n == 0) return EBADMSG;
    else if (errno != EINTR) return errno;
  }
  return 0;
}

static bool sha_is(const unsigned char *buf, size_t len, const unsigned char *want) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  return EVP_Digest(buf, len, md, &md_len, gage_sha256(), NULL) && md_len == 32 && memcmp(md, want, 32) == 0;
}

// Copies job `i`'s name (at `at`, `len` bytes) into `name` and gives the descriptor of its folder.
static int job_dir(Restore *r, const unsigned char *p, size_t at, uint16_t len, char *name) {
  uint32_t dir;
  memcpy(&dir, p, 4);
  memcpy(name, p + at, len);
  name[len] = 0;
  return r->dir_fds[dir];
}

static int restore_one(Restore *r, size_t i, unsigned char *buf, char *name, const char **call) {
  const unsigned char *p = r->jobs + r->offsets[i];
  uint32_t pack, len, mode;
  double offset, mtime_us;
  uint16_t plen;
  memcpy(&pack, p, 4);
  memcpy(&len, p + 4, 4);
  memcpy(&offset, p + 8, 8);
  const unsigned char *want = p + 16;
  memcpy(&mode, p + 48, 4);
  memcpy(&mtime_us, p + 52, 8);
  memcpy(&plen, p + 64, 2);
  int dir_fd = job_dir(r, p + 60, JOB_HEADER - 60, plen, name);
  *call = "read";
  int err = read_range(r, pack, (off_t)offset, len, buf);
  if (err != 0) return err;
  *call = "verify";
  if (!sha_is(buf, len, want)) return EBADMSG;
  struct stat st;
  err = gage_create_file(dir_fd, name, mode, buf, len, mtime_us, r->fsync, &st, call);
  if (err == 0) gage_set_stamp(r->stamps + i * 4, &st);
  return err;
}

static int restore_chunked_one(Restore *r, size_t i, unsigned char *buf, char *name, const char **call, int64_t *chunk) {
  const unsigned char *p = r->jobs + r->offsets[i];
  uint16_t plen;
  uint32_t count, mode;
  double mtime_us, size;
  memcpy(&plen, p + 4, 2);
  memcpy(&count, p + 6, 4);
  memcpy(&mode, p + 10, 4);
  memcpy(&mtime_us, p + 14, 8);
  memcpy(&size, p + 22, 8);
  const unsigned char *want = p + 30;
  int dir_fd = job_dir(r, p, CHUNKED_HEADER, plen, name);
  const unsigned char *chunks = p + CHUNKED_HEADER + plen;
  *call = "open";
  int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return errno;
  EVP_MD_CTX *whole = EVP_MD_CTX_new();
  int err = whole != NULL && EVP_DigestInit_ex(whole, gage_sha256(), NULL) ? 0 : ENOMEM;
  double total = 0;
  for (uint32_t k = 0; k < count && err == 0; k++) {
    const unsigned char *c = chunks + (size_t)k * CHUNK_RECORD;
    uint32_t pack, len;
    double offset;
    memcpy(&pack, c, 4);
    memcpy(&len, c + 4, 4);
    memcpy(&offset, c + 8, 8);
    *chunk = k;
    *call = "read";
    if ((err = read_range(r, pack, (off_t)offset, len, buf)) != 0) break;
    *call = "verify";
    if (!sha_is(buf, len, c + 16)) {
      err = EBADMSG;
      break;
    }
    if (!EVP_DigestUpdate(whole, buf, len)) {
      err = EIO;
      break;
    }
    *call = "write";
    if ((err = write_all(fd, buf, len)) != 0) break;
    total += len;
  }
  if (err == 0) {
    *chunk = -1;
    *call = "verify";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (total != size || !EVP_DigestFinal_ex(whole, md, &md_len) || md_len != 32 || memcmp(md, want, 32) != 0) err = EBADMSG;
  }
  EVP_MD_CTX_free(whole);
  struct stat st;
  err = finish_file(fd, err, mode, mtime_us, r->fsync, &st, call);
  // Nothing of a file that failed is left: it was created here (O_EXCL).
  if (err != 0) unlinkat(dir_fd, name, 0);
  else gage_set_stamp(r->stamps + i * 4, &st);
  return err;
}

static void fail(Restore *r, int err, const char *call, const char *path, int64_t index, int64_t chunk) {
  if (gage_queue_fail(&r->q, err, call, path, index)) r->err_chunk = chunk;
}

// Job `i`'s folder and `name`, as one path for an error.
static void job_path(Restore *r, size_t i, const char *name, char *path) {
  uint32_t dir;
  memcpy(&dir, r->jobs + r->offsets[i] + (r->chunked ? 0 : 60), 4);
  snprintf(path, PATH_MAX, "%s/%s", r->dir_paths[dir], name);
}

static void *restore_files(void *arg) {
  Restore *r = arg;
  char name[PATH_MAX], path[PATH_MAX];
  unsigned char *buf = malloc(r->max_len > 0 ? r->max_len : 1);
  if (buf == NULL) {
    fail(r, ENOMEM, "malloc", "", -1, -1);
    return NULL;
  }
  for (size_t i; (i = gage_queue_next(&r->q)) < r->q.count;) {
    const char *call = "open";
    int64_t chunk = -1;
    int err = r->chunked ? restore_chunked_one(r, i, buf, name, &call, &chunk) : restore_one(r, i, buf, name, &call);
    if (err != 0) {
      job_path(r, i, name, path);
      fail(r, err, call, path, (int64_t)i, chunk);
    }
  }
  free(buf);
  return NULL;
}

static void restore_execute(napi_env env, void *data) {
  (void)env;
  Restore *r = data;
  // Every pack is opened and checked before any file is written.
  for (uint32_t k = 0; k < r->npacks; k++) {
    int fd = open(r->pack_paths[k], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      fail(r, errno, "open", r->pack_paths[k], -1, -1);
      if (fd >= 0) close(fd);
      return;
    }
    r->pack_fds[k] = fd;
    if (!S_ISREG(st.st_mode)) {
      fail(r, EINVAL, "open", r->pack_paths[k], -1, -1);
      return;
    }
    r->pack_sizes[k] = st.st_size;
  }
  // And every folder (never through a symlink): files are created relative to them.
  for (uint32_t k = 0; k < r->ndirs; k++) {
    if ((r->dir_fds[k] = open(r->dir_paths[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
      fail(r, errno, "opendir", r->dir_paths[k], -1, -1);
      return;
    }
  }
  gage_run_threads(restore_files, r, r->q.threads, r->q.count);
}

static void free_restore(napi_env env, Restore *r) {
  if (r->jobs_ref != NULL) napi_delete_reference(env, r->jobs_ref);
  if (r->stamps_ref != NULL) napi_delete_reference(env, r->stamps_ref);
  for (uint32_t k = 0; k < r->npacks; k++) {
    if (r->pack_fds != NULL && r->pack_fds[k] >= 0) close(r->pack_fds[k]);
    if (r->pack_paths != NULL) free(r->pack_paths[k]);
  }
  for (uint32_t k = 0; k < r->ndirs; k++) {
    if (r->dir_fds != NULL && r->dir_fds[k] >= 0) close(r->dir_fds[k]);
    if (r->dir_paths != NULL) free(r->dir_paths[k]);
  }
  free(r->dir_paths);
  free(r->dir_fds);
  free(r->pack_paths);
  free(r->pack_fds);
  free(r->pack_sizes);
  free(r->offsets);
  pthread_mutex_destroy(&r->q.lock);
  free(r);
}

static void restore_complete(napi_env env, napi_status status, void *data) {
  Restore *r = data;
  napi_value error = gage_queue_error(env, status, &r->q, true);
  if (error != NULL) {
    napi_value chunk;
    napi_create_int64(env, r->err_chunk, &chunk);
    napi_set_named_property(env, error, "chunk", chunk);
  }
  gage_queue_settle(env, &r->q, error);
  free_restore(env, r);
}

// Whether `len` bytes at `name` are one path segment: not empty, ".", "..", nor holding '/' or NUL.
static bool is_segment(const unsigned char *name, uint16_t len) {
  if (len == 0 || len > 255 || (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))) return false;
  return memchr(name, '/', len) == NULL && memchr(name, 0, len) == NULL;
}

// Checks every job lies within the buffer, names a listed pack and folder and a name that is one
// path segment, before any thread starts.
static bool parse_jobs(Restore *r, const unsigned char *data, size_t len, uint32_t count) {
  size_t at = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (at + JOB_HEADER > len) return false;
    uint32_t pack, size, dir;
    double offset;
    uint16_t plen;
    memcpy(&pack, data + at, 4);
    memcpy(&size, data + at + 4, 4);
    memcpy(&offset, data + at + 8, 8);
    memcpy(&dir, data + at + 60, 4);
    memcpy(&plen, data + at + 64, 2);
    if (pack >= r->npacks || size > MAX_JOB_BYTES || !gage_whole_number(offset)) return false;
    if (dir >= r->ndirs || at + JOB_HEADER + plen > len || !is_segment(data + at + JOB_HEADER, plen)) return false;
    r->offsets[i] = at;
    if (size > r->max_len) r->max_len = size;
    at += JOB_HEADER + plen;
  }
  return at == len;
}

// parse_jobs for restoreChunkedAsync: every chunk within the buffer, of a listed pack.
static bool parse_chunked_jobs(Restore *r, const unsigned char *data, size_t len, uint32_t count) {
  size_t at = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (at + CHUNKED_HEADER > len) return false;
    uint32_t dir, chunks;
    uint16_t plen;
    double size;
    memcpy(&dir, data + at, 4);
    memcpy(&plen, data + at + 4, 2);
    memcpy(&chunks, data + at + 6, 4);
    memcpy(&size, data + at + 22, 8);
    if (dir >= r->ndirs || !gage_whole_number(size)) return false;
    size_t body = at + CHUNKED_HEADER + plen;
    if (body > len || !is_segment(data + at + CHUNKED_HEADER, plen) || chunks > (len - body) / CHUNK_RECORD) return false;
    for (uint32_t k = 0; k < chunks; k++) {
      const unsigned char *c = data + body + (size_t)k * CHUNK_RECORD;
      uint32_t pack, clen;
      double offset;
      memcpy(&pack, c, 4);
      memcpy(&clen, c + 4, 4);
      memcpy(&offset, c + 8, 8);
      if (pack >= r->npacks || clen > MAX_JOB_BYTES || !gage_whole_number(offset)) return false;
      if (clen > r->max_len) r->max_len = clen;
    }
    r->offsets[i] = at;
    at = body + (size_t)chunks * CHUNK_RECORD;
  }
  return at == len;
}

// An array of paths as C strings (`*out`, `*n` of them, each closed with -1 in `fds`); false when
// it is not one (or memory runs out), with what was made left for free_restore.
static bool path_list(napi_env env, napi_value list, char ***out, int **fds, uint32_t *n) {
  bool is_array = false;
  if (napi_is_array(env, list, &is_array) != napi_ok || !is_array || napi_get_array_length(env, list, n) != napi_ok) return false;
  *out = calloc(*n ? *n : 1, sizeof **out);
  *fds = malloc((*n ? *n : 1) * sizeof **fds);
  if (*out == NULL || *fds == NULL) return false;
  for (uint32_t k = 0; k < *n; k++) (*fds)[k] = -1;
  for (uint32_t k = 0; k < *n; k++) {
    napi_value v;
    size_t plen = 0;
    if (napi_get_element(env, list, k, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &plen) != napi_ok || plen == 0 || plen >= PATH_MAX ||
        ((*out)[k] = malloc(plen + 1)) == NULL || napi_get_value_string_utf8(env, v, (*out)[k], plen + 1, &plen) != napi_ok)
      return false;
  }
  return true;
}

static napi_value start_restore(napi_env env, napi_callback_info info, bool chunked) {
  size_t argc = 7;
  napi_value argv[7];
  void *data = NULL;
  double *stamps = NULL;
  size_t len = 0;
  uint32_t count = 0, threads = 1;
  bool fsync_each = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok || napi_get_value_uint32(env, argv[4], &threads) != napi_ok ||
      napi_get_value_bool(env, argv[5], &fsync_each) != napi_ok || !gage_stamps_arg(env, argv[6], count, &stamps)) {
    napi_throw_type_error(env, NULL, "restoreFilesAsync or restoreChunkedAsync(packs, dirs, jobs, count, threads, fsync, stamps)");
    return NULL;
  }
  Restore *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  gage_queue_init(&r->q, count, threads);
  r->offsets = calloc(count ? count : 1, sizeof *r->offsets);
  if (r->offsets == NULL || !path_list(env, argv[0], &r->pack_paths, &r->pack_fds, &r->npacks) ||
      (r->pack_sizes = calloc(r->npacks ? r->npacks : 1, sizeof *r->pack_sizes)) == NULL || !path_list(env, argv[1], &r->dir_paths, &r->dir_fds, &r->ndirs)) {
    free_restore(env, r);
    napi_throw_type_error(env, NULL, "restoreFilesAsync: packs and dirs must be paths");
    return NULL;
  }
  r->chunked = chunked;
  if (!(chunked ? parse_chunked_jobs(r, data, len, count) : parse_jobs(r, data, len, count))) {
    free_restore(env, r);
    napi_throw_range_error(env, NULL, "restoreFilesAsync: a malformed batch");
    return NULL;
  }
  r->jobs = data;
  r->stamps = stamps;
  r->fsync = fsync_each;
  r->err_chunk = -1;
  napi_create_reference(env, argv[2], 1, &r->jobs_ref);
  napi_create_reference(env, argv[6], 1, &r->stamps_ref);
  return gage_queue_start(env, &r->q, "gage:restoreFiles", restore_execute, restore_complete);
}

napi_value restore_files_async(napi_env env, napi_callback_info info) { return start_restore(env, info, false); }

napi_value restore_chunked_async(napi_env env, napi_callback_info info) { return start_restore(env, info, true); }
