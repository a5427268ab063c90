// gitCheckoutAsync(pack, jobs, count, threads, fsync, stamps, sums): new files written from whole
// blob entries of one Git pack, on several threads, as `git checkout` writes a clone's files: each
// entry read with one pread, inflated into a buffer of the size its header and the tree give (a
// claim its compressed bytes cannot justify is never allocated), checked against its Git id
// (SHA-1 of "blob SIZE\0" and the bytes), hashed with SHA-256 (our file id) in the same pass over
// the buffer, then created (O_EXCL, with its mode), written, stamped and closed. A clone's files
// thus need no JavaScript buffer, message between threads or hash per file
// (src/remotes/git/checkout-native.ts).
//
// Job: [start f64][end f64][size u32][mode u32][mtime µs f64, -1: none][sha1 20 bytes]
// [path length u16][path]. An entry this cannot take (a delta, another type or size, bytes that do
// not inflate to it or hash to another id, a range outside the pack) is not written: its stamp's
// size is -1, and the caller reads it itself, so a fault is named as for any other read. `stamps`
// (a Float64Array of count * 4) gets each written file's size, mtimeMs, ctimeMs and ino; `sums` (a
// Buffer of count * 32) its SHA-256. A file-system failure rejects with { code, syscall, path, index }.
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
#include <zlib.h>
#include "shared.h"

#define JOB_HEADER 54
// Larger blobs go through the caller's reader; this bounds each thread's buffers.
#define MAX_BLOB (16u << 20)
// Deflate's worst expansion (stored blocks) over MAX_BLOB, plus the entry's header.
#define MAX_ENTRY (MAX_BLOB + MAX_BLOB / 1000 + 4096)

typedef struct {
  GageQueue q;
  napi_ref jobs_ref, stamps_ref, sums_ref;
  const unsigned char *jobs;
  size_t *offsets;
  char *pack_path;
  int pack_fd;
  off_t pack_size;
  double *stamps;
  unsigned char *sums;
  bool fsync;
} Checkout;

typedef struct {
  unsigned char *in, *out;
  size_t in_cap, out_cap;
  z_stream z;
  bool z_ready;
  EVP_MD_CTX *sha1, *sha256;
} Scratch;

static bool reserve(unsigned char **buf, size_t *cap, size_t want) {
  if (want <= *cap) return true;
  size_t grown = *cap * 2 > want ? *cap * 2 : want;
  unsigned char *b = realloc(*buf, grown ? grown : 1);
  if (b == NULL) return false;
  *buf = b;
  *cap = grown;
  return true;
}

// The blob's bytes into s->out, or false when the entry is not a whole blob of `size` bytes that
// inflates exactly to it (the caller's reader then names the fault). Errors of the system set *err.
static bool inflate_entry(Checkout *c, Scratch *s, off_t start, off_t end, uint32_t size, int *err) {
  size_t len = (size_t)(end - start);
  // Deflate expands a byte to at most 1032: a larger claim is a lie, never allocated for.
  if (start < 12 || end <= start || end > c->pack_size - 20 || len > MAX_ENTRY || size > MAX_BLOB || (uint64_t)size > (uint64_t)len * 1032 + 64) return false;
  if (!reserve(&s->in, &s->in_cap, len) || !reserve(&s->out, &s->out_cap, size ? size : 1)) {
    *err = ENOMEM;
    return false;
  }
  for (size_t got = 0; got < len;) {
    ssize_t n = pread(c->pack_fd, s->in + got, len - got, start + (off_t)got);
    if (n > 0) got += (size_t)n;
    else if (n == 0) return false;
    else if (errno != EINTR) {
      *err = errno;
      return false;
    }
  }
  // The entry's header: type 3 (blob) and its size, 4 bits then 7 per byte.
  size_t p = 0;
  unsigned c0 = s->in[p++];
  if (((c0 >> 4) & 7) != 3) return false;
  uint64_t stated = c0 & 15;
  for (unsigned shift = 4; c0 & 0x80; shift += 7) {
    if (p >= len || shift > 35) return false;
    c0 = s->in[p++];
    stated += (uint64_t)(c0 & 0x7f) << shift;
  }
  if (stated != size) return false;
  if (!s->z_ready) {
    memset(&s->z, 0, sizeof s->z);
    if (inflateInit(&s->z) != Z_OK) {
      *err = ENOMEM;
      return false;
    }
    s->z_ready = true;
  } else if (inflateReset(&s->z) != Z_OK) return false;
  s->z.next_in = s->in + p;
  s->z.avail_in = (uInt)(len - p);
  // One byte of room past the size: a stream that would yield more is caught, not cut short.
  unsigned char spare;
  s->z.next_out = size ? s->out : &spare;
  s->z.avail_out = size ? size : 1;
  int rc = inflate(&s->z, Z_FINISH);
  if (size && (rc == Z_OK || rc == Z_BUF_ERROR) && s->z.avail_out == 0) {
    s->z.next_out = &spare;
    s->z.avail_out = 1;
    rc = inflate(&s->z, Z_FINISH);
  }
  return rc == Z_STREAM_END && s->z.total_out == size;
}

static bool digest_blob(Scratch *s, uint32_t size, const unsigned char *want_sha1, unsigned char *sha256_out) {
  char head[32];
  int hl = snprintf(head, sizeof head, "blob %u", size);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // The header's NUL is part of what Git hashes.
  if (!EVP_DigestInit_ex(s->sha1, EVP_sha1(), NULL) || !EVP_DigestUpdate(s->sha1, head, (size_t)hl + 1) || !EVP_DigestUpdate(s->sha1, s->out, size) ||
      !EVP_DigestFinal_ex(s->sha1, md, &md_len) || md_len != 20 || memcmp(md, want_sha1, 20) != 0)
    return false;
  return EVP_DigestInit_ex(s->sha256, gage_sha256(), NULL) && EVP_DigestUpdate(s->sha256, s->out, size) && EVP_DigestFinal_ex(s->sha256, sha256_out, &md_len) && md_len == 32;
}

static int checkout_one(Checkout *c, Scratch *s, size_t i, char *path, const char **call) {
  const unsigned char *p = c->jobs + c->offsets[i];
  double start, end, mtime_us;
  uint32_t size, mode;
  uint16_t plen;
  memcpy(&start, p, 8);
  memcpy(&end, p + 8, 8);
  memcpy(&size, p + 16, 4);
  memcpy(&mode, p + 20, 4);
  memcpy(&mtime_us, p + 24, 8);
  memcpy(&plen, p + 52, 2);
  memcpy(path, p + JOB_HEADER, plen);
  path[plen] = 0;
  double *stamp = c->stamps + i * 4;
  stamp[0] = -1;
  int err = 0;
  *call = "read";
  if (!inflate_entry(c, s, (off_t)start, (off_t)end, size, &err)) return err;
  *call = "verify";
  if (!digest_blob(s, size, p + 32, c->sums + i * 32)) return 0;
  struct stat st;
  err = gage_create_file(AT_FDCWD, path, mode, s->out, size, mtime_us, c->fsync, &st, call);
  if (err == 0) gage_set_stamp(stamp, &st);
  return err;
}

static void *checkout_files(void *arg) {
  Checkout *c = arg;
  char path[PATH_MAX];
  Scratch s = {0};
  s.sha1 = EVP_MD_CTX_new();
  s.sha256 = EVP_MD_CTX_new();
  if (s.sha1 == NULL || s.sha256 == NULL) gage_queue_fail(&c->q, ENOMEM, "malloc", "", -1);
  for (size_t i; (i = gage_queue_next(&c->q)) < c->q.count;) {
    const char *call = "open";
    int err = checkout_one(c, &s, i, path, &call);
    if (err != 0) gage_queue_fail(&c->q, err, call, path, (int64_t)i);
  }
  if (s.z_ready) inflateEnd(&s.z);
  EVP_MD_CTX_free(s.sha1);
  EVP_MD_CTX_free(s.sha256);
  free(s.in);
  free(s.out);
  return NULL;
}

static void checkout_execute(napi_env env, void *data) {
  (void)env;
  Checkout *c = data;
  int fd = open(c->pack_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    gage_queue_fail(&c->q, errno, "open", c->pack_path, -1);
    if (fd >= 0) close(fd);
    return;
  }
  c->pack_fd = fd;
  if (!S_ISREG(st.st_mode)) {
    gage_queue_fail(&c->q, EINVAL, "open", c->pack_path, -1);
    return;
  }
  c->pack_size = st.st_size;
  gage_run_threads(checkout_files, c, c->q.threads, c->q.count);
}

static void free_checkout(napi_env env, Checkout *c) {
  if (c->jobs_ref != NULL) napi_delete_reference(env, c->jobs_ref);
  if (c->stamps_ref != NULL) napi_delete_reference(env, c->stamps_ref);
  if (c->sums_ref != NULL) napi_delete_reference(env, c->sums_ref);
  if (c->pack_fd >= 0) close(c->pack_fd);
  free(c->pack_path);
  free(c->offsets);
  pthread_mutex_destroy(&c->q.lock);
  free(c);
}

static void checkout_complete(napi_env env, napi_status status, void *data) {
  Checkout *c = data;
  gage_queue_settle(env, &c->q, gage_queue_error(env, status, &c->q, true));
  free_checkout(env, c);
}


// Checks every job lies within the buffer, before any thread starts.
static bool parse_jobs(Checkout *c, const unsigned char *data, size_t len, uint32_t count) {
  size_t at = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (at + JOB_HEADER > len) return false;
    double start, end;
    uint16_t plen;
    memcpy(&start, data + at, 8);
    memcpy(&end, data + at + 8, 8);
    memcpy(&plen, data + at + 52, 2);
    if (!gage_whole_number(start) || !gage_whole_number(end) || plen == 0 || plen >= PATH_MAX || at + JOB_HEADER + plen > len) return false;
    c->offsets[i] = at;
    at += JOB_HEADER + plen;
  }
  return at == len;
}

napi_value git_checkout_async(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  void *data = NULL, *sums = NULL;
  double *stamps = NULL;
  size_t len = 0, sums_len = 0, plen = 0;
  uint32_t count = 0, threads = 1;
  bool fsync_each = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &plen) != napi_ok || plen == 0 ||
      plen >= PATH_MAX || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || napi_get_value_uint32(env, argv[2], &count) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &threads) != napi_ok || napi_get_value_bool(env, argv[4], &fsync_each) != napi_ok ||
      !gage_stamps_arg(env, argv[5], count, &stamps) || napi_get_buffer_info(env, argv[6], &sums, &sums_len) != napi_ok || sums_len < (size_t)count * 32) {
    napi_throw_type_error(env, NULL, "gitCheckoutAsync(pack, jobs, count, threads, fsync, stamps, sums)");
    return NULL;
  }
  Checkout *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  gage_queue_init(&c->q, count, threads);
  c->pack_fd = -1;
  c->offsets = calloc(count ? count : 1, sizeof *c->offsets);
  c->pack_path = malloc(plen + 1);
  if (c->offsets == NULL || c->pack_path == NULL) {
    free_checkout(env, c);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], c->pack_path, plen + 1, &plen);
  if (!parse_jobs(c, data, len, count)) {
    free_checkout(env, c);
    napi_throw_range_error(env, NULL, "gitCheckoutAsync: a malformed batch");
    return NULL;
  }
  c->jobs = data;
  c->stamps = stamps;
  c->sums = sums;
  c->fsync = fsync_each;
  napi_create_reference(env, argv[1], 1, &c->jobs_ref);
  napi_create_reference(env, argv[5], 1, &c->stamps_ref);
  napi_create_reference(env, argv[6], 1, &c->sums_ref);
  return gage_queue_start(env, &c->q, "gage:gitCheckout", checkout_execute, checkout_complete);
}

// gitInflateSync(input, size): the one zlib stream at the start of `input` inflated, when it yields
// exactly `size` bytes; else undefined (the caller says what is wrong). One stream per thread is
// reset for each call: Node's inflateSync makes a stream, and objects, per call, which cost a tree
// or small file several times its inflating.
napi_value git_inflate_sync(napi_env env, napi_callback_info info) {
  static __thread z_stream z;
  static __thread bool ready = false;
  size_t argc = 2;
  napi_value argv[2], out;
  void *in = NULL, *buf = NULL;
  size_t len = 0;
  uint32_t size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_buffer_info(env, argv[0], &in, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &size) != napi_ok || len > UINT32_MAX || size > MAX_BLOB * 4) {
    napi_throw_type_error(env, NULL, "gitInflateSync(input, size)");
    return NULL;
  }
  if (!ready) {
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    ready = true;
  } else if (inflateReset(&z) != Z_OK) {
    napi_throw_error(env, NULL, "gitInflateSync: cannot reset its stream");
    return NULL;
  }
  if (napi_create_buffer(env, size, &buf, &out) != napi_ok) return NULL;
  unsigned char spare;
  z.next_in = in;
  z.avail_in = (uInt)len;
  z.next_out = size ? buf : &spare;
  z.avail_out = size ? size : 1;
  int rc = inflate(&z, Z_FINISH);
  if (size && (rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_out == 0) {
    z.next_out = &spare;
    z.avail_out = 1;
    rc = inflate(&z, Z_FINISH);
  }
  if (rc == Z_STREAM_END && z.total_out == size) return out;
  napi_value undef;
  napi_get_undefined(env, &undef);
  return undef;
}
