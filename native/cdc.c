// cdcCuts(buf, end, final, gear, params, cuts): the content-defined cuts of buf[0, end) exactly as
// src/objects/chunker.ts's cutBlock makes them (that file holds the definition and the gear table;
// this is its inner loop, which dominated a cold push of large files in JavaScript). `gear` is an
// Int32Array of 256, `params` a Uint32Array [minSize, avgSize, maxSize, early mask, late mask].
// Writes each chunk's end into `cuts` (a Uint32Array) and returns how many; the unfinished tail
// starts at the last (0 when none), or is the last chunk when `final`.
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "shared.h"

typedef struct {
  const uint8_t *buf;
  const uint32_t *gear;
  size_t min, avg, max;
  uint32_t early, late;
} Cdc;

// Rolls the fingerprint over buf[i, end) from *fp; the position after the first byte where
// (fp & mask) == 0, or 0 with *fp left where it ended. Unrolled by the compiler (-O3).
static inline size_t scan(const Cdc *c, size_t i, size_t end, uint32_t *fp, uint32_t mask) {
  uint32_t f = *fp;
  for (; i < end; i++) {
    f = (f << 1) + c->gear[c->buf[i]];
    if ((f & mask) == 0) return i + 1;
  }
  *fp = f;
  return 0;
}

// chunker.ts findCut: the end of the chunk starting at `start`, no further than `limit`.
static size_t find_cut(const Cdc *c, size_t start, size_t limit) {
  size_t i = start + c->min;
  if (i >= limit) return limit;
  size_t normal = start + c->avg;
  if (normal < i) normal = i;
  if (normal > limit) normal = limit;
  uint32_t fp = 0;
  size_t cut = scan(c, i, normal, &fp, c->early);
  if (cut != 0) return cut;
  cut = scan(c, normal, limit, &fp, c->late);
  return cut != 0 ? cut : limit;
}

napi_value cdc_cuts(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  void *buf = NULL, *gear = NULL, *params = NULL, *cuts = NULL;
  size_t len = 0, gear_len = 0, params_len = 0, cuts_len = 0;
  double end_arg = 0;
  bool final = false;
  napi_typedarray_type t_buf, t_gear, t_params, t_cuts;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_typedarray_info(env, argv[0], &t_buf, &len, &buf, NULL, NULL) != napi_ok || t_buf != napi_uint8_array ||
      napi_get_value_double(env, argv[1], &end_arg) != napi_ok || napi_get_value_bool(env, argv[2], &final) != napi_ok ||
      napi_get_typedarray_info(env, argv[3], &t_gear, &gear_len, &gear, NULL, NULL) != napi_ok || t_gear != napi_int32_array || gear_len != 256 ||
      napi_get_typedarray_info(env, argv[4], &t_params, &params_len, &params, NULL, NULL) != napi_ok || t_params != napi_uint32_array || params_len != 5 ||
      napi_get_typedarray_info(env, argv[5], &t_cuts, &cuts_len, &cuts, NULL, NULL) != napi_ok || t_cuts != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "cdcCuts(buf, end, final, gear, params, cuts)");
    return NULL;
  }
  const uint32_t *p = params;
  if (!gage_whole_number(end_arg) || end_arg > (double)len || end_arg > (double)UINT32_MAX || p[1] < p[0] || p[2] < p[1] || p[2] == 0) {
    napi_throw_range_error(env, NULL, "cdcCuts: end past the buffer, or sizes out of order");
    return NULL;
  }
  Cdc c = {.buf = buf, .gear = gear, .min = p[0], .avg = p[1], .max = p[2], .early = p[3], .late = p[4]};
  size_t end = (size_t)end_arg, pos = 0, n = 0;
  uint32_t *out = cuts;
  // As cutBlock: whole maximum spans first, then cuts that need no more than is here, then the tail.
  for (;;) {
    size_t cut;
    if (end - pos >= c.max) cut = find_cut(&c, pos, pos + c.max);
    else if ((cut = find_cut(&c, pos, end)) == end && !(final && pos < end)) break;
    if (n == cuts_len) {
      napi_throw_range_error(env, NULL, "cdcCuts: more cuts than room for them");
      return NULL;
    }
    out[n++] = (uint32_t)cut;
    pos = cut;
  }
  napi_value result;
  napi_create_uint32(env, (uint32_t)n, &result);
  return result;
}
