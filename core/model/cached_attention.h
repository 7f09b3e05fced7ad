#pragma once

namespace distgpt {

// Causal attention of `rows` new positions pos..pos+rows-1 of one sequence
// against its cache: stores each row's k and v at its position, then for
// each row i and query head h
//   out_{i,h} = softmax_p(q_{i,h} · k_{g,p} / sqrt(D)) · v_{g,p},  p = 0..pos+i,
// g = h / (heads / kv_heads) its key/value head (grouped-query attention;
// kv_heads == heads is plain multi-head attention).
// Row i of q, k and v starts at q + i·ld (q: [H·D], k and v: [KV·D]: a fused
// qkv row holds all three); k_cache, v_cache: one slot's [KV, T, D]; out:
// [rows, H·D]. Rows and heads are split across `threads`.
// Each (row, head) is computed by the same operations whatever the rows
// beside it: a prompt's last row gets the bits a decode step would give it,
// so a sequence computes the same bits prefilled or fed one token at a time,
// in one process or in a pipeline. (One query row needs none of a batched
// matmul's packing, which costs more than the arithmetic at decode; a
// 256-row prefill of gpt2 ran 5× faster than libtorch's bmm, mask and
// softmax, which spent most of their time on the masked half.)
void cached_attention(const float* q, const float* k, const float* v, long ld, int rows, float* k_cache, float* v_cache, int heads,
                      int kv_heads, int max_context, int head_dim, int pos, float* out, int threads);

}  // namespace distgpt
