#pragma once

namespace distgpt {

// Attention of one new position against a sequence's cache, for decode:
// stores this position's k and v at `pos`, then for each query head h
//   out_h = softmax_p(q_h · k_{g,p} / sqrt(D)) · v_{g,p},  p = 0..pos,
// g = h / (heads / kv_heads) its key/value head (grouped-query attention;
// kv_heads == heads is plain multi-head attention).
// q: [H·D]; k, v: [KV·D]; k_cache, v_cache: one slot's [KV, T, D]; out: [H·D].
// Heads are split across `threads`. One query row needs none of a batched
// matmul's packing, which costs more than the arithmetic here.
void decode_attention(const float* q, const float* k, const float* v, float* k_cache, float* v_cache, int heads, int kv_heads,
                      int max_context, int head_dim, int pos, float* out, int threads);

}  // namespace distgpt
