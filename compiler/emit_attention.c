/* emit_attention.c: the C of a fused attention node (fuse_attention.c): per batch item
 * K and V packed block by block, then per block of queries the flash-style loop: S = Q K^T
 * on the GEMM's register tile, the score chain and an online softmax over S's rows, and
 * O = O * corr + P V, never materializing the score matrix; constant masks skip the key
 * blocks they hide (attn_skip.c), views are read in place (attn_layout.c). */
#include "emit_internal.h"

#include <math.h>
#include <string.h>

/* keys per block of the online softmax: 256, or 128 when a constant mask lets the kernel skip
 * key blocks (finer blocks skip more); the score tile's rows hold a block */
static int64_t attn_key_block(const Node *n) { return attention_has_constant_mask(n) ? 128 : 256; }
/* row stride of the score tile and of the staged queries: the avx512/avx2 GEMMs' packed
 * A strip stride (KC + 16), so both products read them in place instead of packing */
#define ATTN_LD 272
#define ATTN_QUERIES 96 /* queries per block (a multiple of the GEMM's row tile) */

/* offset of source `src` of attention node n at flat score row r (code), for step st */
static const char *attn_row_offset(const Node *n, const AttnStep *st, int src, int64_t *last) {
  const Node *x = n->src[src];
  int64_t stride[MAX_DIMS];
  emit_broadcast_strides(&x->shape, &st->shape, stride);
  const Shape *s = &st->shape;
  StrBuf sb = {0};
  sb_puts(&sb, "0");
  int64_t below = 1; /* rows per index step of dim d */
  for (int d = s->ndim - 2; d >= 0; d--) {
    if (stride[d] && s->dim[d] > 1)
      sb_printf(&sb, " + ((r / %lld) %% %lld) * %lld", (long long)below, (long long)s->dim[d],
                (long long)stride[d]);
    below *= s->dim[d];
  }
  *last = stride[s->ndim - 1];
  const char *r = xstrdup(sb.buf);
  sb_free(&sb);
  return r;
}

/* the value of a step's other operand at key jj; a literal that is added or filled in is
 * scaled by k (the scores' own scale when the queries carry it: attn_prescalable) */
static const char *attn_value(const Node *n, const AttnStep *st, int src, StrBuf *rows, int id,
                              float k) {
  if (src < 0) {
    StrBuf sb = {0};
    emit_float_literal(&sb, st->op == OP_MUL || st->op == OP_DIV ? st->literal : st->literal * k);
    const char *r = xstrdup(sb.buf);
    sb_free(&sb);
    return r;
  }
  int64_t last;
  const char *off = attn_row_offset(n, st, src, &last);
  sb_printf(rows, "      const int64_t o%d = %s;\n", id, off);
  const char *at = last ? xformat("s%d[o%d + jj]", src, id) : xformat("s%d[o%d]", src, id);
  return n->src[src]->dtype == DT_F32 ? at : xformat("(float)%s", at);
}

/* Trailing steps that scale by a positive literal (* c, / c) leave the softmax's argmax
 * alone: softmax(c x) = e^(c (x - max x)) / sum, so the kernel applies c inside its exp
 * instead of in a pass over the scores. Returns the steps left; *c the product. */
static int attn_trailing_scale(const Node *n, float *c) {
  int t = n->nsteps;
  double scale = 1.0;
  while (t > 0 && attn_step_scale(&n->steps[t - 1], &scale))
    t--;
  *c = (float)scale;
  return t;
}

/* Whether the chain's steps [first, nsteps) commute with scaling the scores by k > 0, the
 * literals they add or fill in scaled too: every step multiplies, divides the score by
 * something, or adds, subtracts or fills in a literal whose scaled value stays finite (a
 * tensor added would need a multiply per score, which is what scaling the queries saves). */
static bool attn_prescalable(const Node *n, int first, int nsteps, float k) {
  for (int t = first; t < nsteps; t++) {
    const AttnStep *st = &n->steps[t];
    if (st->op == OP_MUL || (st->op == OP_DIV && st->score_first))
      continue;
    if (st->op == OP_DIV || st->operand >= 0 || (isfinite(st->literal) && !isfinite(st->literal * k)))
      return false;
  }
  return true;
}

/* the score chain's steps [first, nsteps): one statement per step, reading sv (k: see
 * attn_value) */
static void attn_steps(const Node *n, int first, int nsteps, float k, StrBuf *code, StrBuf *rows) {
  static const char *const sym[] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/"};
  int id = 0;
  for (int t = first; t < nsteps; t++) {
    const AttnStep *st = &n->steps[t];
    const char *v = attn_value(n, st, st->operand, rows, id++, k);
    if (st->op == OP_WHERE) {
      int64_t last;
      const char *off = attn_row_offset(n, st, st->cond, &last);
      sb_printf(rows, "      const int64_t o%d = %s;\n", id, off);
      const char *c = last ? xformat("s%d[o%d + jj]", st->cond, id) : xformat("s%d[o%d]", st->cond, id);
      id++;
      sb_printf(code, "          sv = %s ? %s : %s;\n", c, st->score_first ? "sv" : v,
                st->score_first ? v : "sv");
    } else if (st->score_first) {
      sb_printf(code, "          sv = sv %s %s;\n", sym[st->op], v);
    } else {
      sb_printf(code, "          sv = %s %s sv;\n", v, sym[st->op]);
    }
  }
}

/* are the queries staged (copied at the packed-strip stride, once per query block)? when a
 * query row fits one K block of the GEMM */
static bool attn_staged(const Node *n) { return n->dh <= ATTN_LD - 16; }

/* a result accumulated in a dense block and stored at the end: written through a view
 * (attn_layout.c), where rows a power of two apart would crowd a few L1 sets while key
 * blocks stream by; the probabilities are written once, through the view */
static bool attn_out_tile(const Node *n) {
  return !n->attn_probs && n->views && n->views[3].is_view;
}

/* Scratch of an attention node, in floats: packed K and V blocks of one batch item,
 * the score tile, and the running max and sum of each query row (the probabilities: no V,
 * and the scores go straight to the result). */
static void attention_scratch(const Node *n, int nr, int64_t *kp, int64_t *vp, int64_t *tile,
                              int64_t *total) {
  const int64_t kb = attn_key_block(n), blocks = (n->lk + kb - 1) / kb;
  const int64_t staged = ATTN_QUERIES * ATTN_LD;
  *kp = pack_floats(n->dh, kb, nr); /* one key block: d x kb */
  *vp = n->attn_probs ? 0 : pack_floats(kb, n->dv, nr); /* one value block: kb x dv */
  *tile = n->attn_probs ? 0 : staged; /* (probs_out: P's strips copied there for P V) */
  /* the tile, the staged queries, each row's running max and sum (16 partial sums), and
   * the output block */
  *total = blocks * (*kp + *vp) + *tile + (attn_staged(n) ? staged : 0) + 17 * ATTN_QUERIES +
           (attn_out_tile(n) ? ATTN_QUERIES * n->dv : 0);
}

/* The work items an attention's threads share: its batch items, each packing its K and V
 * once, when they split evenly; else (one batch item, as a single-head attention at batch
 * 1, or 3 items on 2 threads) each item's blocks of queries, a thread packing K and V of
 * every item it has a block of. */
static int64_t attention_items(const Node *n, int threads) {
  const int64_t batch = shape_numel(&n->shape) / (n->lq * n->dv);
  return threads <= 1 || batch % threads == 0 ? batch
                                              : batch * ((n->lq + ATTN_QUERIES - 1) / ATTN_QUERIES);
}

/* the threads an attention runs on: its work items are split between them when there are
 * enough of them and enough work (QK^T and PV) */
static int attention_threads(const Node *n, int threads) {
  const int64_t items = attention_items(n, threads);
  if (threads <= 1 || items <= 1 || profile_flops(n) < MIN_PARALLEL_FLOPS)
    return 1;
  return threads < items ? threads : (int)items;
}

int64_t emit_attention_scratch(const Node *n, int nr, int threads) {
  int64_t kp, vp, tile, total;
  attention_scratch(n, nr, &kp, &vp, &tile, &total);
  return total * (int64_t)sizeof(float) * attention_threads(n, threads);
}

/* Does the kernel compute P exactly, in P's own rows (the probabilities: its result; or
 * probs_out, P V then read from them), rather than the online softmax's tile? */
static bool attn_exact_p(const Node *n) { return n->attn_probs || n->probs_out; }

/* score row i of the block (code): the tile's (ATTN_LD apart, a key block each), or P's own
 * (ldo apart for the probabilities, Lk for probs_out; from the block's first key j0) */
static const char *attn_score_row(const Node *n, long long ldo, const char *i) {
  if (n->probs_out)
    return xformat("pq + %s * %lld + j0", i, (long long)n->lk);
  return n->attn_probs ? xformat("out + %s * %lld + j0", i, ldo) : xformat("st + %s * %d", i, ATTN_LD);
}

/* the loop over a block of queries' key blocks: those [kb_lo, kb_hi) of the constant mask's
 * tables (attn_skip.c) when it skips some, else all */
static void attn_key_loop(StrBuf *sb, bool skipping, long long blocks) {
  if (skipping)
    sb_printf(sb, "      for (int64_t jb = kb_lo[i0 / %d]; jb < kb_hi[i0 / %d]; jb++) {\n",
              ATTN_QUERIES, ATTN_QUERIES);
  else
    sb_printf(sb, "      for (int64_t jb = 0; jb < %lld; jb++) {\n", blocks);
}

/* O += P V for a strip of mr rows (ss, ATTN_LD apart) and key block jb (js deep) on the
 * register tile, or through the GEMM where the target has no tile for a partial strip */
static void attn_pv_tiles(StrBuf *sb, const EmitOptions *o, long long dv, long long vp,
                          bool direct, bool every_strip) {
  const char *P = o->prefix, *in2 = every_strip ? "" : "  ";
  if (direct) {
    if (!every_strip)
      sb_printf(sb, "          if (mr == %s_GEMM_MR)\n", P);
    sb_printf(sb, "%s          for (int64_t j = 0; j < %lld; j += %s_GEMM_NR)\n"
                  "%s            %s_gemm_tile(mr, js, ss, vp + jb * %lld + j * jn, %lld - j < %s_GEMM_NR ? %lld - j : %s_GEMM_NR,\n"
                  "%s                         os + j, %lld, os + j, %lld, NULL, NULL, NULL, 0, 0);\n",
              in2, dv, P, in2, P, vp, dv, P, dv, P, in2, dv, dv);
  }
  if (!every_strip)
    sb_printf(sb, "%s          %s_gemm(mr, %lld, js, ss, %d, vp + jb * %lld, os, %lld, NULL, os, %lld, 0);\n",
              direct ? "          else\n  " : "", P, dv, ATTN_LD, vp, dv, dv);
}

/* How attention n reads operand i (0 Q, 1 K, 2 V) or writes its result (3): batch item
 * b at an offset (code in b, from the view's leading dims), then a matrix of the given
 * rows x cols with row and column strides (attn_layout.c; dense without a view). */
typedef struct {
  const char *at;
  int64_t rs, cs;
} AttnMatrix;

static AttnMatrix attn_matrix(const Node *n, int i, int64_t rows, int64_t cols) {
  SrcView v = {0};
  if (n->views && n->views[i].is_view) {
    v = n->views[i];
  } else {
    v.shape = (Shape){3, {shape_numel(&n->shape) / (n->lq * n->dv), rows, cols}};
    shape_dense_strides(&v.shape, v.stride);
  }
  int d = v.shape.ndim;
  AttnMatrix m = {"0", v.stride[d - 2], v.stride[d - 1]};
  Shape batch = v.shape;
  batch.ndim = d - 2;
  Operand op = {"", NULL, DT_F32, 0, {0}};
  memcpy(op.stride, v.stride, sizeof(int64_t) * (size_t)batch.ndim);
  emit_collapse(&batch, &op, 1);
  StrBuf sb = {0};
  for (int k = 0; k < batch.ndim; k++) {
    sb_printf(&sb, "%s%s", k ? " + " : "", emit_flat_index(&batch, k, "b"));
    if (op.stride[k] != 1)
      sb_printf(&sb, " * %lld", (long long)op.stride[k]);
  }
  if (sb.len)
    m.at = xstrdup(sb.buf);
  sb_free(&sb);
  return m;
}

/* static const int32_t NAME[n] = {...}; */
static void put_int_table(StrBuf *sb, const char *name, const int32_t *v, long long n) {
  sb_printf(sb, "  static const int32_t %s[%lld] = {", name, n);
  for (long long i = 0; i < n; i++)
    sb_printf(sb, "%s%d", i ? (i % 16 ? ", " : ",\n    ") : "", v[i]);
  sb_puts(sb, "};\n");
}

uint32_t attention_strip_rows(const Node *n, int mr) {
  uint32_t bits = 0;
  for (int64_t i0 = 0; i0 < n->lq; i0 += ATTN_QUERIES) /* each block of queries' last strip */
    bits |= emit_strip_rows_bit(n->lq - i0 < ATTN_QUERIES ? n->lq - i0 : ATTN_QUERIES, mr);
  return bits;
}

/* Flash-style: per batch item, K and V are packed block by block; then for each
 * block of queries, S = Q K_blk^T (GEMM), the score chain and an online softmax over
 * S's rows, and O = O * corr + P V_blk (GEMM with O as its own residual). */
void emit_attention(StrBuf *sb, const EmitOptions *o, const Node *n) {
  long long lq = n->lq, lk = n->lk, dh = n->dh, dv = n->dv;
  long long batch = shape_numel(&n->shape) / (lq * dv);
  AttnMatrix mq = attn_matrix(n, 0, lq, dh), mv = attn_matrix(n, 2, lk, dv);
  AttnMatrix mk = n->k_rows ? attn_matrix(n, 1, lk, dh) : attn_matrix(n, 1, dh, lk);
  AttnMatrix mo = attn_matrix(n, 3, lq, dv);
  ATTN_ASSERT(mq.cs == 1 && mo.cs == 1); /* rows are copied with memcpy, stored by the GEMM */
  /* K as B(c, j) = K[j][c] (K [Lk, d]) or KT[c][j] (K^T [d, Lk]): strides along c and j */
  long long kc = n->k_rows ? mk.cs : mk.rs, kj = n->k_rows ? mk.rs : mk.cs;
  long long ldq = mq.rs, ldo = mo.rs;
  int64_t kp, vp, tile, total;
  attention_scratch(n, o->target->gemm_nr, &kp, &vp, &tile, &total);
  const long long kblock = attn_key_block(n), blocks = (lk + kblock - 1) / kblock;
  const char *P = o->prefix;
  StrBuf steps = {0}, rows = {0};
  float c = 1.0f;
  int nsteps = attn_trailing_scale(n, &c);
  /* Staged queries are scaled by k = c log2(e) as they are copied when the chain allows it
   * (none, masks filled with literals, scales: attn_prescalable), and the softmax takes the
   * scores as exponents of 2 (its scale ln 2, so c log2(e) becomes 1): AVX-512's
   * exponentials then skip a multiply (about 1.4 % of the attention with 32-dim heads, 0.7 %
   * with 64); e^((s' - m') ln 2) is the same softmax on every target. */
  const float k = (float)((double)c * 1.4426950408889634074);
  /* Leading scales of staged queries go with them too: (Q c) K^T = c Q K^T (the query scaling
   * of nn.MultiheadAttention, absorbed by fuse_attention.c, or a chain that scales, then
   * masks with a tensor); the chain then starts at step `first` */
  const bool stage = attn_staged(n);
  int first = 0;
  double lead = 1.0;
  while (stage && first < nsteps && attn_step_scale(&n->steps[first], &lead))
    first++;
  const bool prescale = stage && attn_prescalable(n, first, nsteps, k);
  const bool probs = n->attn_probs, side = n->probs_out != NULL, exact = attn_exact_p(n);
  attn_steps(n, first, nsteps, prescale ? k : 1.0f, &steps, &rows);
  StrBuf lit = {0};
  emit_float_literal(&lit, prescale ? (float)0.69314718055994530942 : c);
  const char *scale = xstrdup(lit.buf);
  sb_free(&lit);
  sb_printf(sb, "  /* softmax(chain(Q K^T)) V: %lld batch items, %lld queries x %lld keys, "
                "head dims %lld/%lld */\n", batch, lq, lk, dh, dv);
  long long nqb = (lq + ATTN_QUERIES - 1) / ATTN_QUERIES;
  /* per query block the key blocks it visits; per query (the tile's MR may be known only
   * when the code is built: the generic kernel's depends on the machine) the end of its
   * unmasked keys and its first masked key */
  AttnSkip sk = {xalloc(sizeof(int32_t) * (size_t)nqb), xalloc(sizeof(int32_t) * (size_t)nqb),
                 xalloc(sizeof(int32_t) * (size_t)lq), xalloc(sizeof(int32_t) * (size_t)lq)};
  /* kernels that compute P exactly skip whole key blocks only (bskip), and write their zeros */
  const bool skipping = attention_key_blocks(n, ATTN_QUERIES, kblock, &sk);
  const bool skip = skipping && !exact, bskip = skipping && exact;
  /* a chain of constant-mask fills only is the identity on a strip without masked keys */
  const bool clean = skip && attention_mask_only(n, first, nsteps);
  if (skip || bskip) {
    long long visited = 0;
    for (long long qb = 0; qb < nqb; qb++)
      visited += sk.hi[qb] - sk.lo[qb];
    sb_printf(sb, "  /* a constant mask: each block of %d queries visits only the key blocks\n"
                  "     [kb_lo, kb_hi) holding unmasked keys, %lld of %lld (query, key) block pairs;\n",
              ATTN_QUERIES, visited, nqb * blocks);
    if (skip)
      sb_printf(sb, "     a full strip of queries stops after the last key one of them keeps (ke)%s */\n",
                clean ? ",\n     and skips the chain where none of them masks a key (km, the first masked)" : "");
    else
      sb_puts(sb, "     P is 0 in the others (e^(fill - max) underflows) */\n");
    put_int_table(sb, "kb_lo", sk.lo, nqb);
    put_int_table(sb, "kb_hi", sk.hi, nqb);
  }
  if (skip)
    put_int_table(sb, "ke", sk.key_end, lq);
  if (clean)
    put_int_table(sb, "km", sk.mask_start, lq);
  int t = attention_threads(n, o->threads);
  if (t > 1)
    emit_parallel_for(sb, t);
  sb_printf(sb, "  for (int t = 0; t < %d; t++) { /* each thread: its work items, its scratch */\n", t);
  sb_printf(sb, "  float *kp = scratch + t * %lld, *vp = kp + %lld, *st = vp + %lld;\n",
            (long long)total, blocks * (long long)kp, blocks * (long long)vp);
  /* after the tile: each row's running max, its running sum (16 partial sums; not for the
   * probabilities), the staged queries, the output block */
  sb_printf(sb, "  float *rmax = st + %lld;\n", (long long)tile);
  if (!exact)
    sb_printf(sb, "  float *rsum = rmax + %d;\n", ATTN_QUERIES);
  if (stage)
    sb_printf(sb, "  float *qs = rmax + %d;\n", 17 * ATTN_QUERIES);
  const bool otile = attn_out_tile(n);
  if (otile)
    sb_printf(sb, "  float *ot = rmax + %lld;\n",
              17 * ATTN_QUERIES + (stage ? (long long)ATTN_QUERIES * ATTN_LD : 0));
  const long long items = attention_items(n, t); /* batch, or batch x blocks of queries */
  if (items == batch)
    sb_printf(sb, "  for (int64_t b = t * %lld / %d; b < (t + 1) * %lld / %d; b++) {\n", batch, t,
              batch, t);
  else /* the thread's blocks of queries [wlo, whi): those of item b are [qlo, qhi) */
    sb_printf(sb, "  const int64_t wlo = t * %lld / %d, whi = (t + 1) * %lld / %d;\n"
                  "  for (int64_t b = wlo / %lld; b < (whi + %lld) / %lld; b++) {\n"
                  "    const int64_t qlo = b * %lld > wlo ? 0 : wlo - b * %lld;\n"
                  "    const int64_t qhi = (b + 1) * %lld < whi ? %lld : whi - b * %lld;\n",
              items, t, items, t, nqb, nqb - 1, nqb, nqb, nqb, nqb, nqb, nqb);
  sb_printf(sb, "    const float *qb = s0 + %s;\n    const float *kb = s1 + %s;\n", mq.at, mk.at);
  if (!probs)
    sb_printf(sb, "    const float *vb = s2 + %s;\n", mv.at);
  sb_printf(sb, "    float *yb = y + %s;\n", mo.at);
  if (side)
    sb_printf(sb, "    float *pb = yp + b * %lld;\n", lq * lk);
  sb_printf(sb, "    for (int64_t jb = 0; jb < %lld; jb++) {\n", blocks);
  sb_printf(sb, "      const int64_t j0 = jb * %lld, jn = %lld - j0 < %lld ? %lld - j0 : %lld;\n",
            kblock, lk, kblock, lk, kblock);
  sb_printf(sb, "      %s_pack_b(%lld, jn, kb + j0 * %lld, %lld, %lld, kp + jb * %lld);\n", P, dh,
            kj, kc, kj, (long long)kp);
  if (!probs)
    sb_printf(sb, "      %s_pack_b(jn, %lld, vb + j0 * %lld, %lld, %lld, vp + jb * %lld);\n", P, dv,
              (long long)mv.rs, (long long)mv.rs, (long long)mv.cs, (long long)vp);
  sb_puts(sb, "    }\n");
  if (items == batch)
    sb_printf(sb, "    for (int64_t i0 = 0; i0 < %lld; i0 += %d) {\n", lq, ATTN_QUERIES);
  else
    sb_printf(sb, "    for (int64_t i0 = qlo * %d; i0 < qhi * %d; i0 += %d) {\n", ATTN_QUERIES,
              ATTN_QUERIES, ATTN_QUERIES);
  sb_printf(sb, "      const int64_t in = %lld - i0 < %d ? %lld - i0 : %d;\n", lq, ATTN_QUERIES, lq,
            ATTN_QUERIES);
  sb_printf(sb, "      const float *q = qb + i0 * %lld;\n", ldq);
  const float qscale = (float)((prescale ? (double)k : 1.0) * lead);
  if (stage && qscale != 1.0f) { /* the block's queries at the packed-strip stride, once */
    sb_printf(sb, "      for (int64_t i = 0; i < in; i++)\n"
                  "        for (int64_t c = 0; c < %lld; c++)\n"
                  "          qs[i * %d + c] = q[i * %lld + c] * ", dh, ATTN_LD, ldq);
    emit_float_literal(sb, qscale);
    sb_puts(sb, ";\n");
  } else if (stage)
    sb_printf(sb, "      for (int64_t i = 0; i < in; i++)\n"
                  "        memcpy(qs + i * %d, q + i * %lld, %lld * sizeof(float));\n",
              ATTN_LD, ldq, dh);
  if (otile)
    sb_printf(sb, "      float *out = ot, *yo = yb + i0 * %lld;\n", ldo);
  else
    sb_printf(sb, "      float *out = yb + i0 * %lld;\n", ldo);
  if (side)
    sb_printf(sb, "      float *pq = pb + i0 * %lld;\n", lk);
  if (!probs)
    sb_printf(sb, "      for (int64_t e = 0; e < in * %lld; e++)\n        out[e] = 0.0f;\n", dv);
  sb_puts(sb, "      for (int64_t i = 0; i < in; i++)\n        rmax[i] = -INFINITY;\n");
  if (!exact)
    sb_puts(sb, "      for (int64_t i = 0; i < 16 * in; i++)\n        rsum[i] = 0.0f;\n");
  /* the score rows' stride (attn_score_row) */
  const long long lds = side ? lk : probs ? ldo : ATTN_LD;
  attn_key_loop(sb, skip || bskip, blocks);
  sb_printf(sb, "        const int64_t j0 = jb * %lld, jn = %lld - j0 < %lld ? %lld - j0 : %lld;\n",
            kblock, lk, kblock, lk, kblock);
  /* strips of the GEMM's MR rows: S = Q K^T, the chain, the softmax and O += P V while
   * the strip's scores are in L1; a full strip calls the register tile itself (Q staged
   * and P at the packed-strip stride are read in place), and so does a partial one where
   * the target's tile of fewer rows reads only those (else it goes through the GEMM,
   * which packs it: in the examples' 16-query heads, 12 + 4 rows, that was ~ a fifth of
   * the attention) */
  const bool direct = stage && o->target->driver;
  const bool every_strip = direct && o->target->tile_rows; /* no GEMM call at all */
  const char *in2 = every_strip ? "" : "  "; /* the tile loop's indent under its if */
  sb_printf(sb, "        for (int64_t i1 = 0; i1 < in; i1 += %s_GEMM_MR) {\n", P);
  sb_printf(sb, "          const int64_t mr = in - i1 < %s_GEMM_MR ? in - i1 : %s_GEMM_MR;\n", P, P);
  sb_printf(sb, "          float *ss = %s;\n", attn_score_row(n, ldo, "i1"));
  if (!exact)
    sb_printf(sb, "          float *os = out + i1 * %lld;\n", dv);
  /* js: the keys of the block this strip computes (the columns of S and the depth of P V) */
  if (skip)
    sb_printf(sb, "          int64_t je = jn%s;\n"
                  "          if (mr == %s_GEMM_MR) {\n"
                  "            je = 0%s;\n"
                  "            for (int64_t i = i0 + i1; i < i0 + i1 + mr; i++) {\n"
                  "              je = ke[i] - j0 > je ? ke[i] - j0 : je;\n%s"
                  "            }\n"
                  "          }\n"
                  "          const int64_t js = je < jn ? je : jn;\n"
                  "          if (js <= 0)\n            continue; /* every key masked for the strip */\n",
              clean ? ", jm = 0" : "", P, clean ? ", jm = jn" : "",
              clean ? "              jm = km[i] - j0 < jm ? km[i] - j0 : jm;\n" : "");
  else
    sb_puts(sb, "          const int64_t js = jn;\n");
  if (direct) {
    if (!every_strip)
      sb_printf(sb, "          if (mr == %s_GEMM_MR)\n", P);
    /* whole tiles by the inlined tile without epilogue (kernels.c), the edges by the switch */
    sb_printf(sb, "%s          for (int64_t j = 0; j < js; j += %s_GEMM_NR)\n"
                  "%s            if (mr == %s_GEMM_MR && js - j >= %s_GEMM_NR)\n"
                  "%s              %s_gemm_tile_whole(%lld, qs + i1 * %d, kp + jb * %lld + j * %lld, ss + j, %lld);\n"
                  "%s            else\n"
                  "%s              %s_gemm_tile(mr, %lld, qs + i1 * %d, kp + jb * %lld + j * %lld,\n"
                  "%s                           js - j < %s_GEMM_NR ? js - j : %s_GEMM_NR, NULL, 0, ss + j, %lld,\n"
                  "%s                           NULL, NULL, NULL, 0, 0);\n",
              in2, P, in2, P, P, in2, P, dh, ATTN_LD, (long long)kp, dh, lds, in2, in2, P, dh, ATTN_LD,
              (long long)kp, dh, in2, P, P, lds, in2);
  }
  /* a partial strip computes the whole block (js == jn): the packed V's panels are jn deep */
  if (!every_strip)
    sb_printf(sb, "%s          %s_gemm(mr, js, %lld, %s + i1 * %lld, %lld, kp + jb * %lld, ss, %lld, NULL, NULL, 0, 0);\n",
              direct ? "          else\n  " : "", P, dh, stage ? "qs" : "q",
              stage ? (long long)ATTN_LD : ldq, stage ? (long long)ATTN_LD : ldq, (long long)kp, lds);
  if (steps.len) { /* the chain, in place, one loop per row that vectorizes: the rows' max is
                     * a pass of its own (the row kernels'), as a running max kept in the same
                     * loop went through memory each vector: 0.5 ns per score, 7x this loop */
    if (clean) /* jm >= js: no row of the strip masks one of its keys here */
      sb_puts(sb, "          const int chain = jm < js;\n"
                  "          for (int64_t i = i1; chain && i < i1 + mr; i++) {\n");
    else
      sb_puts(sb, "          for (int64_t i = i1; i < i1 + mr; i++) {\n");
    sb_printf(sb, "          float *srow = %s;\n", attn_score_row(n, ldo, "i"));
    if (rows.len) {
      if (strstr(rows.buf, "(r /"))
        sb_printf(sb, "          const int64_t r = b * %lld + i0 + i;\n", lq);
      sb_puts(sb, rows.buf);
    }
    sb_puts(sb, "          for (int64_t j = 0; j < js; j++) {\n            float sv = srow[j];\n");
    if (strstr(steps.buf, "jj"))
      sb_puts(sb, "            const int64_t jj = j0 + j;\n");
    sb_puts(sb, steps.buf);
    sb_puts(sb, "            srow[j] = sv;\n          }\n          }\n");
  }
  if (exact) { /* the rows' running max takes the block in (NaN wins); the rest at the end */
    sb_printf(sb, "          for (int64_t i = 0; i < mr; i++) {\n"
                  "            const float mb = %s_row_max(ss + i * %lld, js);\n"
                  "            rmax[i1 + i] = mb > rmax[i1 + i] || mb != mb ? mb : rmax[i1 + i];\n"
                  "          }\n        }\n      }\n", P, lds);
    /* each row: e^((s - max) c), its sum, the row over the sum (a row of -inf, or with a
     * NaN, gives NaN, as in PyTorch) */
    if (bskip) /* the keys of the blocks computed; zeros around them */
      sb_printf(sb, "      const int64_t jlo = kb_lo[i0 / %d] * %lld,\n"
                    "                    jhi = kb_hi[i0 / %d] * %lld < %lld ? kb_hi[i0 / %d] * %lld : %lld;\n"
                    "      for (int64_t i = 0; i < in; i++) {\n"
                    "        float *pr = %s + i * %lld;\n"
                    "        memset(pr, 0, (size_t)jlo * sizeof(float));\n"
                    "        memset(pr + jhi, 0, (size_t)(%lld - jhi) * sizeof(float));\n"
                    "        %s_row_softmax(pr + jlo, jhi - jlo, rmax[i], %s);\n"
                    "      }\n", ATTN_QUERIES, kblock, ATTN_QUERIES, kblock, lk, ATTN_QUERIES, kblock,
                lk, side ? "pq" : "out", lds, lk, P, scale);
    else
      sb_printf(sb, "      for (int64_t i = 0; i < in; i++)\n"
                    "        %s_row_softmax(%s + i * %lld, %lld, rmax[i], %s);\n", P,
                side ? "pq" : "out", lds, lk, scale);
    if (side) { /* O = P V, P's rows of this block of queries still in L2: per key block, a
                 * full strip read in place by the target's strided tile (copying it cost the
                 * mask-and-weights MHA, 512 and 768 tokens, d=512, 2-3 %; 1024, whose rows are
                 * 4 KiB apart, the same), else its part copied to the tile at the
                 * packed-strip stride, then the product */
      attn_key_loop(sb, bskip, blocks);
      sb_printf(sb, "        const int64_t j0 = jb * %lld, jn = %lld - j0 < %lld ? %lld - j0 : %lld, js = jn;\n"
                    "        for (int64_t i1 = 0; i1 < in; i1 += %s_GEMM_MR) {\n"
                    "          const int64_t mr = in - i1 < %s_GEMM_MR ? in - i1 : %s_GEMM_MR;\n"
                    "          float *ss = st, *os = out + i1 * %lld;\n",
                kblock, lk, kblock, lk, kblock, P, P, P, dv);
      if (o->target->driver)
        sb_printf(sb, "#ifdef %s_GEMM_STRIDED_TILE\n"
                      "          if (mr == %s_GEMM_MR) {\n"
                      "            for (int64_t j = 0; j < %lld; j += %s_GEMM_NR)\n"
                      "              %s_gemm_ukr_strided(js, pq + i1 * %lld + j0, %lld, vp + jb * %lld + j * jn,\n"
                      "                                  %lld - j < %s_GEMM_NR ? %lld - j : %s_GEMM_NR,\n"
                      "                                  os + j, %lld, os + j, %lld, NULL, NULL, NULL, 0, 0);\n"
                      "            continue;\n"
                      "          }\n"
                      "#endif\n", P, P, dv, P, P, lk, lk, (long long)vp, dv, P, dv, P, dv, dv);
      sb_printf(sb, "          for (int64_t i = 0; i < mr; i++)\n"
                    "            memcpy(ss + i * %d, pq + (i1 + i) * %lld + j0, (size_t)js * sizeof(float));\n",
                ATTN_LD, lk);
      attn_pv_tiles(sb, o, dv, (long long)vp, direct, every_strip);
      sb_puts(sb, "        }\n      }\n");
      if (otile)
        sb_printf(sb, "      for (int64_t i = 0; i < in; i++)\n"
                      "        memcpy(yo + i * %lld, out + i * %lld, %lld * sizeof(float));\n",
                  ldo, dv, dv);
    }
    sb_puts(sb, "    }\n  }\n  }\n");
    sb_free(&steps);
    sb_free(&rows);
    return;
  }
  /* the rows' running max and sum take the block in; its scores become exponentials and
   * the output rows are corrected for the new max */
  sb_printf(sb, "          %s_softmax_block(ss, %d, mr, js, rmax + i1, rsum + 16 * i1, %s, os, %lld, %lld);\n",
            P, ATTN_LD, scale, dv, dv);
  attn_pv_tiles(sb, o, dv, (long long)vp, direct, every_strip);
  sb_puts(sb, "        }\n");
  sb_puts(sb, "      }\n      for (int64_t i = 0; i < in; i++) {\n");
  sb_printf(sb, "        const float inv = 1.0f / %s_lanes_sum(rsum + 16 * i);\n", P);
  if (otile)
    sb_printf(sb, "        for (int64_t c = 0; c < %lld; c++)\n"
                  "          yo[i * %lld + c] = out[i * %lld + c] * inv;\n", dv, ldo, dv);
  else
    sb_printf(sb, "        for (int64_t c = 0; c < %lld; c++)\n          out[i * %lld + c] *= inv;\n",
              dv, dv);
  sb_puts(sb, "      }\n    }\n  }\n  }\n");
  sb_free(&steps);
  sb_free(&rows);
}
