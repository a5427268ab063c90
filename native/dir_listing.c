// listDir(path): one directory's entries and their lstat fields in one call, as one buffer;
// digestTrees(roots, threads): a digest of every listing below each root, on several threads.
// A no-change push lstats every file of every run; through fs.lstatSync each entry costs a path
// lookup from the root, a Stats object and four Dates, several times the system call itself.
// Here each entry is one fstatat relative to the open directory. The buffer's format is
// src/objects/dir-listing.ts's, which also writes it when this addon is not built.
#define _GNU_SOURCE
#include <dirent.h>
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

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the listing format is little-endian"
#endif
// GNU qsort_r (BSD's takes its arguments in another order) and strerrorname_np (glibc 2.32).
// Elsewhere the build fails, and gage lists directories through node:fs.
#if !defined(__linux__) || !defined(__GLIBC__) || !__GLIBC_PREREQ(2, 32)
#error "the native lister needs Linux with glibc 2.32 or later"
#endif

// [name length u16][mode u32][size, mtimeMs, ctimeMs, ino: f64] then the name's bytes.
#define HEADER 38

typedef struct {
  size_t name_at;
  uint16_t name_len;
  uint32_t mode;
  double size, mtime_ms, ctime_ms, ino;
} Entry;

typedef struct {
  Entry *entries;
  size_t count, cap;
  char *names;
  size_t names_len, names_cap;
} Listing;

// By the bytes of the names, as trees are sorted. Worker threads list directories at once, so the
// names go through qsort_r's argument, not a global.
static int by_name(const void *a, const void *b, void *names) {
  const Entry *x = a, *y = b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp((const char *)names + x->name_at, (const char *)names + y->name_at, n);
  return c != 0 ? c : (int)x->name_len - (int)y->name_len;
}

static void free_listing(Listing *l) {
  free(l->entries);
  free(l->names);
}

// An Error as Node's fs gives: "ENOENT: ..., scandir 'path'", with code, errno, syscall, path.
static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  const char *code = strerrorname_np(err);
  if (code == NULL) code = "EIO";
  size_t len = strlen(code) + strlen(strerror(err)) + strlen(syscall) + strlen(path) + 16;
  char *msg = malloc(len);
  if (msg == NULL) return NULL;
  snprintf(msg, len, "%s: %s, %s '%s'", code, strerror(err), syscall, path);
  napi_value code_v, msg_v, error, path_v, syscall_v, errno_v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  free(msg);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &path_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_create_int32(env, -err, &errno_v);
  napi_set_named_property(env, error, "path", path_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  napi_set_named_property(env, error, "errno", errno_v);
  return error;
}

napi_value gage_errno_error(napi_env env, int err, const char *syscall, const char *path) { return errno_error(env, err, syscall, path); }

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_value error = errno_error(env, err, syscall, path);
  if (error == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  else napi_throw(env, error);
  return NULL;
}

static int add_entry(Listing *l, const char *name, size_t len, const struct stat *st) {
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    Entry *e = realloc(l->entries, cap * sizeof(Entry));
    if (e == NULL) return ENOMEM;
    l->entries = e;
    l->cap = cap;
  }
  if (l->names_len + len > l->names_cap) {
    size_t cap = l->names_cap ? l->names_cap * 2 : 4096;
    while (cap < l->names_len + len) cap *= 2;
    char *n = realloc(l->names, cap);
    if (n == NULL) return ENOMEM;
    l->names = n;
    l->names_cap = cap;
  }
  memcpy(l->names + l->names_len, name, len);
  Entry *e = &l->entries[l->count++];
  e->name_at = l->names_len;
  e->name_len = (uint16_t)len;
  e->mode = st->st_mode;
  // A directory's own stamps change whenever an entry comes or goes; its listing says that.
  int dir = S_ISDIR(st->st_mode);
  e->size = dir ? 0 : (double)st->st_size;
  e->mtime_ms = dir ? 0 : gage_ms(st->st_mtim);
  e->ctime_ms = dir ? 0 : gage_ms(st->st_ctim);
  e->ino = dir ? 0 : (double)st->st_ino;
  l->names_len += len;
  return 0;
}

// getdents64 reads into this many bytes at a time: most folders in one call.
#define SCRATCH 32768

// A growable byte buffer, kept across folders so that a scan does not allocate per folder.
typedef struct {
  char *data;
  size_t cap;
} Buf;

static int reserve(Buf *b, size_t len) {
  if (len <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < len) cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL) return ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

// Lists the directory open at `fd` into `out` (`*out_len` bytes, in the listing format), reading
// its entries into `scratch` (SCRATCH bytes) and collecting them in `l` (both reused from call
// to call). Returns 0 or an errno. Touches no N-API state, so the threads of digestTrees call it
// too. Raw getdents64 rather than readdir: fdopendir costs two more system calls per folder, and
// a scan lists 14,000 of them.
static int list_fd(int fd, char *scratch, Listing *l, Buf *out, size_t *out_len) {
  l->count = 0;
  l->names_len = 0;
  int err = 0;
  struct stat st;
  for (ssize_t n; err == 0 && (n = getdents64(fd, scratch, SCRATCH)) != 0;) {
    if (n < 0) return errno;
    for (ssize_t off = 0; off < n;) {
      const struct dirent64 *e = (const struct dirent64 *)(scratch + off);
      off += e->d_reclen;
      const char *name = e->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        // Removed since the directory was read: not part of it any more.
        if (errno == ENOENT) continue;
        return errno;
      }
      if ((err = add_entry(l, name, strlen(name), &st)) != 0) return err;
    }
  }
  qsort_r(l->entries, l->count, sizeof(Entry), by_name, l->names);
  size_t total = l->count * HEADER + l->names_len;
  if ((err = reserve(out, total > 0 ? total : 1)) != 0) return err;
  char *p = out->data;
  *out_len = total;
  for (size_t i = 0; i < l->count; i++) {
    const Entry *x = &l->entries[i];
    memcpy(p, &x->name_len, 2);
    memcpy(p + 2, &x->mode, 4);
    memcpy(p + 6, &x->size, 8);
    memcpy(p + 14, &x->mtime_ms, 8);
    memcpy(p + 22, &x->ctime_ms, 8);
    memcpy(p + 30, &x->ino, 8);
    memcpy(p + HEADER, l->names + x->name_at, x->name_len);
    p += HEADER + x->name_len;
  }
  return 0;
}

// `list_fd` of the directory at `path`, into `out` (the caller frees `out->data`).
static int list_one(const char *path, Buf *out, size_t *out_len) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  Listing l = {0};
  char *scratch = malloc(SCRATCH);
  int err = scratch == NULL ? ENOMEM : list_fd(fd, scratch, &l, out, out_len);
  free(scratch);
  free_listing(&l);
  close(fd);
  return err;
}

// A JS string as a malloc'ed C string, or NULL (a TypeError is then pending).
static char *string_arg(napi_env env, napi_value v, const char *what) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  // As node:fs refuses it: C would list the folder named by the part before the NUL.
  if (strlen(s) != len) {
    free(s);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "a path must not contain a NUL byte");
    return NULL;
  }
  return s;
}

static napi_value listing_buffer(napi_env env, char *data, size_t len) {
  napi_value out;
  void *copy;
  napi_status st = napi_create_buffer_copy(env, len, data, &copy, &out);
  free(data);
  if (st != napi_ok) {
    napi_throw_error(env, "ENOMEM", "cannot allocate a listing");
    return NULL;
  }
  return out;
}

static napi_value list_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "listDir(path): path is required");
    return NULL;
  }
  char *path = string_arg(env, argv[0], "listDir(path): path must be a string");
  if (path == NULL) return NULL;
  Buf out = {0};
  size_t len = 0;
  int err = list_one(path, &out, &len);
  if (err != 0) {
    free(out.data);
    napi_value r = throw_errno(env, err, "scandir", path);
    free(path);
    return r;
  }
  free(path);
  return listing_buffer(env, out.data, len);
}

// What digestTrees gives for one folder and everything below it.
typedef struct {
  unsigned char digest[32];
  double files, symlinks, bytes, dirs, skipped, newest;
} TreeSum;

// What one thread of digestTrees keeps from folder to folder: nothing is allocated per folder.
typedef struct {
  char *scratch;
  Listing listing;
  // One listing per depth: a folder's listing is walked after its subfolders' are made.
  Buf *depths;
  size_t depth_count;
  EVP_MD_CTX *md;
  char rel[PATH_MAX];
  // The folder of the last root and its descriptor: a runs directory's roots share one, and
  // opening each relative to it spares a path walk from `/` per root.
  char *parent;
  int parent_fd;
} Worker;

static Buf *depth_buf(Worker *w, size_t depth) {
  if (depth >= w->depth_count) {
    size_t count = w->depth_count ? w->depth_count * 2 : 16;
    while (count <= depth) count *= 2;
    Buf *d = realloc(w->depths, count * sizeof(Buf));
    if (d == NULL) return NULL;
    memset(d + w->depth_count, 0, (count - w->depth_count) * sizeof(Buf));
    w->depths = d;
    w->depth_count = count;
  }
  return &w->depths[depth];
}

// Feeds the listing of the directory open at `fd`, then each subfolder's (depth first, in name
// order), into `w->md`, each as [its path relative to the root] NUL [listing length] NUL
// [listing], and counts what it holds. `w->rel` holds this folder's relative path, `rel_len`
// long; subfolders are opened relative to `fd`, not by their path from the root.
static int digest_tree(Worker *w, int fd, size_t rel_len, size_t depth, TreeSum *sum) {
  Buf *buf = depth_buf(w, depth);
  if (buf == NULL) return ENOMEM;
  size_t len;
  int err = list_fd(fd, w->scratch, &w->listing, buf, &len);
  if (err != 0) return err;
  char *rel = w->rel;
  char head[32];
  int head_len = snprintf(head, sizeof head, "%zu", len);
  if (!EVP_DigestUpdate(w->md, rel, rel_len + 1) || !EVP_DigestUpdate(w->md, head, (size_t)head_len + 1) || !EVP_DigestUpdate(w->md, buf->data, len)) return EIO;
  sum->dirs++;
  for (size_t p = 0; p < len && err == 0;) {
    // Deeper listings may have moved this depth's buffer: read through it afresh each entry.
    const char *data = w->depths[depth].data;
    uint16_t name_len;
    uint32_t mode;
    double size, mtime, ctime;
    memcpy(&name_len, data + p, 2);
    memcpy(&mode, data + p + 2, 4);
    memcpy(&size, data + p + 6, 8);
    memcpy(&mtime, data + p + 14, 8);
    memcpy(&ctime, data + p + 22, 8);
    const char *name = data + p + HEADER;
    p += HEADER + name_len;
    if (S_ISDIR(mode)) {
      size_t at = rel_len == 0 ? 0 : rel_len + 1;
      if (at + name_len + 1 > PATH_MAX) {
        err = ENAMETOOLONG;
        break;
      }
      if (rel_len != 0) rel[rel_len] = '/';
      memcpy(rel + at, name, name_len);
      rel[at + name_len] = 0;
      int child = openat(fd, rel + at, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (child < 0) err = errno;
      else {
        err = digest_tree(w, child, at + name_len, depth + 1, sum);
        close(child);
      }
      rel[rel_len] = 0;
      continue;
    }
    if (S_ISREG(mode)) sum->files++;
    else if (S_ISLNK(mode)) sum->symlinks++;
    else {
      sum->skipped++;
      continue;
    }
    sum->bytes += size;
    if (mtime > sum->newest) sum->newest = mtime;
    if (ctime > sum->newest) sum->newest = ctime;
  }
  return err;
}

static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_fetched;

// Fetched once: EVP_sha256() makes every digest init look the algorithm up again, under locks
// that the threads contend for.
static void fetch_sha256(void) { sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *sha256(void) {
  pthread_once(&sha256_once, fetch_sha256);
  return sha256_fetched != NULL ? sha256_fetched : EVP_sha256();
}

const EVP_MD *gage_sha256(void) { return sha256(); }

// Opens the root folder `root`, relative to its parent's descriptor when it has the last root's.
static int open_root(Worker *w, const char *root) {
  const char *slash = strrchr(root, '/');
  if (slash == NULL || slash == root || slash[1] == 0) return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  size_t parent_len = (size_t)(slash - root);
  if (w->parent == NULL || strlen(w->parent) != parent_len || memcmp(w->parent, root, parent_len) != 0) {
    if (w->parent_fd >= 0) close(w->parent_fd);
    free(w->parent);
    w->parent = strndup(root, parent_len);
    w->parent_fd = w->parent == NULL ? -1 : open(w->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_PATH);
  }
  if (w->parent_fd < 0) return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return openat(w->parent_fd, slash + 1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int digest_root(Worker *w, const char *root, TreeSum *sum) {
  memset(sum, 0, sizeof *sum);
  int fd = open_root(w, root);
  if (fd < 0) return errno;
  int err = !EVP_DigestInit_ex2(w->md, sha256(), NULL) ? EIO : 0;
  if (err == 0) {
    w->rel[0] = 0;
    err = digest_tree(w, fd, 0, 0, sum);
  }
  if (err == 0 && !EVP_DigestFinal_ex(w->md, sum->digest, NULL)) err = EIO;
  close(fd);
  return err;
}

typedef struct {
  char **roots;
  size_t count;
  size_t next;
  TreeSum *sums;
  int *err;
  // An Int32Array's first element (optional): once set, roots not yet begun are left, ECANCELED.
  const int32_t *stop;
  napi_ref stop_ref;
} Batch;

static void *digest_batch(void *arg) {
  Batch *b = arg;
  Worker w = {.scratch = malloc(SCRATCH), .md = EVP_MD_CTX_new(), .parent_fd = -1};
  for (size_t i; (i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->count;) {
    if (b->stop != NULL && __atomic_load_n(b->stop, __ATOMIC_RELAXED) != 0) b->err[i] = ECANCELED;
    else b->err[i] = w.scratch == NULL || w.md == NULL ? ENOMEM : digest_root(&w, b->roots[i], &b->sums[i]);
  }
  for (size_t d = 0; d < w.depth_count; d++) free(w.depths[d].data);
  free(w.depths);
  free_listing(&w.listing);
  free(w.scratch);
  EVP_MD_CTX_free(w.md);
  free(w.parent);
  if (w.parent_fd >= 0) close(w.parent_fd);
  return NULL;
}

// Copies digestTrees' arguments into `b` (roots as C strings); false with a JS error pending.
static bool batch_args(napi_env env, napi_callback_info info, const char *usage, Batch *b, uint32_t *threads) {
  size_t argc = 3;
  napi_value argv[3];
  uint32_t count = 0;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok ||
      !is_array || napi_get_array_length(env, argv[0], &count) != napi_ok || napi_get_value_uint32(env, argv[1], threads) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  b->count = count;
  b->roots = calloc(count ? count : 1, sizeof(char *));
  b->sums = calloc(count ? count : 1, sizeof(TreeSum));
  b->err = calloc(count ? count : 1, sizeof(int));
  if (b->roots == NULL || b->sums == NULL || b->err == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    napi_get_element(env, argv[0], i, &v);
    if ((b->roots[i] = string_arg(env, v, "digestTrees(roots, threads): roots must be strings")) == NULL) return false;
  }
  if (*threads < 1) *threads = 1;
  if (*threads > 64) *threads = 64;
  bool typed = false;
  if (argc >= 3 && napi_is_typedarray(env, argv[2], &typed) == napi_ok && typed) {
    napi_typedarray_type type;
    size_t length;
    void *data;
    // Held until the batch is freed: the threads read it while it runs.
    if (napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) == napi_ok && type == napi_int32_array && length >= 1 &&
        napi_create_reference(env, argv[2], 1, &b->stop_ref) == napi_ok)
      b->stop = data;
  }
  return true;
}

// Sums every root of `b` up on `threads` threads, the calling one among them.
static void run_batch(Batch *b, uint32_t threads) { gage_run_threads(digest_batch, b, threads, b->count); }

// [sums, errors] for a batch that ran (see digestTrees); NULL with a JS error pending.
static napi_value batch_result(napi_env env, Batch *b) {
  void *data;
  napi_value sums, errors, result;
  if (napi_create_buffer(env, (32 + 6 * 8) * b->count, &data, &sums) != napi_ok) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  unsigned char *digests = data;
  double *counts = (double *)(digests + 32 * b->count);
  napi_create_array_with_length(env, b->count, &errors);
  for (size_t i = 0; i < b->count; i++) {
    const TreeSum *t = &b->sums[i];
    if (b->err[i] == 0) memcpy(digests + 32 * i, t->digest, 32);
    else memset(digests + 32 * i, 0, 32);
    double c[6] = {t->files, t->symlinks, t->bytes, t->dirs, t->skipped, t->newest};
    memcpy(counts + 6 * i, c, sizeof c);
    if (b->err[i] == 0) continue;
    napi_value item = errno_error(env, b->err[i], "scandir", b->roots[i]);
    if (item == NULL) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    napi_set_element(env, errors, (uint32_t)i, item);
  }
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, sums);
  napi_set_element(env, result, 1, errors);
  return result;
}

static void free_batch(napi_env env, Batch *b) {
  if (b->stop_ref != NULL) napi_delete_reference(env, b->stop_ref);
  for (size_t i = 0; i < b->count; i++) {
    if (b->roots) free(b->roots[i]);
  }
  free(b->roots);
  free(b->sums);
  free(b->err);
}

// digestTrees(roots, threads) -> [sums, errors]: for each root folder, the SHA-256 of every
// listing in its tree (digest_tree) and what it holds, on `threads` threads (this one among
// them). A no-change scan then costs one lookup per run folder: the system calls run in
// parallel, and no listing is handed to JavaScript. `sums`: every root's digest (32 bytes; zeros
// for a root that failed), then every root's [files, symlinks, bytes, dirs, skipped, newest change
// (ms)] (f64 LE), so that neighbouring roots' digests read as one string; `errors[i]`: the Error
// listing root i (or a folder below it) gave, else a hole.
static napi_value digest_trees(napi_env env, napi_callback_info info) {
  Batch b = {0};
  uint32_t threads = 1;
  napi_value result = NULL;
  if (batch_args(env, info, "digestTrees(roots, threads): an array of paths and a thread count", &b, &threads)) {
    run_batch(&b, threads);
    result = batch_result(env, &b);
  }
  free_batch(env, &b);
  return result;
}

typedef struct {
  Batch batch;
  uint32_t threads;
  napi_deferred deferred;
  napi_async_work work;
} AsyncDigest;

static void async_execute(napi_env env, void *data) {
  (void)env;
  AsyncDigest *a = data;
  run_batch(&a->batch, a->threads);
}

static void async_complete(napi_env env, napi_status status, void *data) {
  AsyncDigest *a = data;
  napi_value result = status == napi_ok ? batch_result(env, &a->batch) : NULL;
  if (result != NULL) napi_resolve_deferred(env, a->deferred, result);
  else {
    napi_value error;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &error);
    else {
      napi_value msg;
      napi_create_string_utf8(env, "digestTreesAsync was cancelled", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &error);
    }
    napi_reject_deferred(env, a->deferred, error);
  }
  napi_delete_async_work(env, a->work);
  free_batch(env, &a->batch);
  free(a);
}

// digestTreesAsync(roots, threads[, stop]) -> Promise<[sums, errors]>: digestTrees off this thread
// (on libuv's pool, helped by its own threads), so that a command reads its caches and lists its
// remote meanwhile. `stop`: an Int32Array (shared); once its first element is set, the roots not
// yet begun are left with ECANCELED, so a process that no longer needs the sums need not wait.
static napi_value digest_trees_async(napi_env env, napi_callback_info info) {
  AsyncDigest *a = calloc(1, sizeof *a);
  if (a == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_value promise, name;
  if (!batch_args(env, info, "digestTreesAsync(roots, threads): an array of paths and a thread count", &a->batch, &a->threads) ||
      napi_create_promise(env, &a->deferred, &promise) != napi_ok) {
    free_batch(env, &a->batch);
    free(a);
    return NULL;
  }
  napi_create_string_utf8(env, "gage:digestTrees", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, async_execute, async_complete, a, &a->work) != napi_ok || napi_queue_async_work(env, a->work) != napi_ok) {
    napi_throw_error(env, NULL, "cannot queue digestTreesAsync");
    return NULL;
  }
  return promise;
}

// writeFilesAsync(batch, count, threads, fsync) -> Promise: writes `count` new files, each
// created exclusively (O_EXCL) with its mode, its bytes, and its modification time, on
// `threads` threads, off the JavaScript thread (which reads and verifies the next objects
// meanwhile). A pull writes only into a staging folder it alone knows, renamed into place whole
// later. Batch record: [path length u16][path][mode u32][mtime µs f64, or -1 for none]
// [data length u32][data], little-endian.
typedef struct {
  GageQueue q;
  napi_ref ref;
  const unsigned char *data;
  size_t *offsets;
  bool fsync;
} WriteBatch;

static int write_record(const unsigned char *p, char *path, bool fsync_it, const char **call) {
  uint16_t plen;
  memcpy(&plen, p, 2);
  memcpy(path, p + 2, plen);
  path[plen] = 0;
  p += 2 + plen;
  uint32_t mode, size;
  double mtime_us;
  memcpy(&mode, p, 4);
  memcpy(&mtime_us, p + 4, 8);
  memcpy(&size, p + 12, 4);
  return gage_create_file(AT_FDCWD, path, mode, p + 16, size, mtime_us, fsync_it, NULL, call);
}

static void *write_files(void *arg) {
  WriteBatch *w = arg;
  char path[PATH_MAX];
  for (size_t i; (i = gage_queue_next(&w->q)) < w->q.count;) {
    const char *call = "open";
    int err = write_record(w->data + w->offsets[i], path, w->fsync, &call);
    if (err != 0) gage_queue_fail(&w->q, err, call, path, (int64_t)i);
  }
  return NULL;
}

static void write_execute(napi_env env, void *data) {
  (void)env;
  WriteBatch *w = data;
  gage_run_threads(write_files, w, w->q.threads, w->q.count);
}

static void free_write_batch(napi_env env, WriteBatch *w) {
  if (w->ref != NULL) napi_delete_reference(env, w->ref);
  pthread_mutex_destroy(&w->q.lock);
  free(w->offsets);
  free(w);
}

static void write_complete(napi_env env, napi_status status, void *data) {
  WriteBatch *w = data;
  gage_queue_settle(env, &w->q, gage_queue_error(env, status, &w->q, false));
  free_write_batch(env, w);
}

static napi_value write_files_async(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  void *data = NULL;
  size_t len = 0;
  uint32_t count = 0, threads = 1;
  bool fsync_each = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &count) != napi_ok || napi_get_value_uint32(env, argv[2], &threads) != napi_ok ||
      napi_get_value_bool(env, argv[3], &fsync_each) != napi_ok) {
    napi_throw_type_error(env, NULL, "writeFilesAsync(batch, count, threads, fsync)");
    return NULL;
  }
  WriteBatch *w = calloc(1, sizeof *w);
  if (w == NULL || (w->offsets = calloc(count ? count : 1, sizeof *w->offsets)) == NULL) {
    free(w);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  gage_queue_init(&w->q, count, threads);
  // Every record is checked to lie within the buffer before any thread starts.
  size_t at = 0, parsed = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint16_t plen;
    uint32_t size;
    if (at + 2 > len) break;
    memcpy(&plen, (unsigned char *)data + at, 2);
    if (plen == 0 || plen >= PATH_MAX || at + 2 + plen + 16 > len) break;
    memcpy(&size, (unsigned char *)data + at + 2 + plen + 12, 4);
    if (at + 2 + plen + 16 + size > len) break;
    w->offsets[i] = at;
    at += 2 + plen + 16 + size;
    parsed = i + 1;
  }
  if (parsed != count || at != len) {
    free_write_batch(env, w);
    napi_throw_range_error(env, NULL, "writeFilesAsync: a malformed batch");
    return NULL;
  }
  w->data = data;
  w->fsync = fsync_each;
  napi_create_reference(env, argv[0], 1, &w->ref);
  return gage_queue_start(env, &w->q, "gage:writeFiles", write_execute, write_complete);
}

// syncFs(path): syncfs(2) on the filesystem holding path: a clone's staged files made durable
// in one call before its runs become visible, where an fsync per file waited on each.
static napi_value sync_fs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_MAX];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "syncFs(path): a path");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return throw_errno(env, err, "syncfs", path);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "syncFs", NAPI_AUTO_LENGTH, sync_fs, NULL, &fn);
  napi_set_named_property(env, exports, "syncFs", fn);
  napi_create_function(env, "writeFilesAsync", NAPI_AUTO_LENGTH, write_files_async, NULL, &fn);
  napi_set_named_property(env, exports, "writeFilesAsync", fn);
  napi_create_function(env, "restoreFilesAsync", NAPI_AUTO_LENGTH, restore_files_async, NULL, &fn);
  napi_set_named_property(env, exports, "restoreFilesAsync", fn);
  napi_create_function(env, "gitCheckoutAsync", NAPI_AUTO_LENGTH, git_checkout_async, NULL, &fn);
  napi_set_named_property(env, exports, "gitCheckoutAsync", fn);
  napi_create_function(env, "gitInflateSync", NAPI_AUTO_LENGTH, git_inflate_sync, NULL, &fn);
  napi_set_named_property(env, exports, "gitInflateSync", fn);
  napi_create_function(env, "restoreChunkedAsync", NAPI_AUTO_LENGTH, restore_chunked_async, NULL, &fn);
  napi_set_named_property(env, exports, "restoreChunkedAsync", fn);
  napi_create_function(env, "cdcCuts", NAPI_AUTO_LENGTH, cdc_cuts, NULL, &fn);
  napi_set_named_property(env, exports, "cdcCuts", fn);
  napi_create_function(env, "listDir", NAPI_AUTO_LENGTH, list_dir, NULL, &fn);
  napi_set_named_property(env, exports, "listDir", fn);
  napi_create_function(env, "digestTrees", NAPI_AUTO_LENGTH, digest_trees, NULL, &fn);
  napi_set_named_property(env, exports, "digestTrees", fn);
  napi_create_function(env, "digestTreesAsync", NAPI_AUTO_LENGTH, digest_trees_async, NULL, &fn);
  napi_set_named_property(env, exports, "digestTreesAsync", fn);
  return exports;
}
