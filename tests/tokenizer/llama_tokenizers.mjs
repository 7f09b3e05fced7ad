// Test fixture: tokenizer.json files for Llama 2 and Llama 3 built from the
// vocabularies and merges that the npm packages llama-tokenizer-js and
// llama3-tokenizer-js ship, in the layout Hugging Face's `tokenizers` writes
// for those models, and the packages' own encodings of every text in the
// corpus. Usage: node llama_tokenizers.mjs TEXTS.json OUT_DIR
import fs from 'fs';
import path from 'path';
import llama2 from 'llama-tokenizer-js';
import llama3 from 'llama3-tokenizer-js';

const [textsPath, out] = process.argv.slice(2);
const texts = JSON.parse(fs.readFileSync(textsPath, 'utf-8'));

// The packages keep merges as a map "left right" -> priority; a token never
// holds a plain space in these vocabularies' own forms, so the key splits
// where both halves are tokens.
function mergesOf(tokenizer) {
  const entries = [...tokenizer.merges.entries()].sort((a, b) => a[1] - b[1]);
  return entries.map(([key]) => {
    for (let at = key.indexOf(' '); at >= 0; at = key.indexOf(' ', at + 1)) {
      const left = key.slice(0, at), right = key.slice(at + 1);
      if (tokenizer.vocabByString.has(left) && tokenizer.vocabByString.has(right)) return [left, right];
    }
    throw new Error(`merge '${key}' does not split into two tokens`);
  });
}

function vocabOf(tokenizer, count) {
  const vocab = {};
  for (let id = 0; id < count; ++id) vocab[tokenizer.vocabById[id]] = id;
  return vocab;
}

function write(dir, tokenizerJson, config, expected) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
}

const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

// Llama 2: SentencePiece-style BPE with byte fallback.
{
  const specials = ['<unk>', '<s>', '</s>'];
  const vocab = vocabOf(llama2, llama2.vocabById.length);
  write(path.join(out, 'llama2'), {
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials.map((s, id) => added(id, s)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges: mergesOf(llama2) },
  }, { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', tokenizer_class: 'LlamaTokenizer' },
  texts.map(text => ({ text, ids: llama2.encode(text, false, true) })));
}

// Llama 3: byte-level BPE, split by its own pattern, merges ignored for whole words.
{
  const pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const ordinary = 128000;
  const vocab = vocabOf(llama3, ordinary);
  const specials = llama3.vocabById.slice(ordinary).map((s, i) => added(ordinary + i, s));
  write(path.join(out, 'llama3'), {
    version: '1.0', truncation: null, padding: null,
    added_tokens: specials,
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
      { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: { type: 'Sequence', processors: [
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [], special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } } }] },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges: mergesOf(llama3) },
  }, { bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>', tokenizer_class: 'PreTrainedTokenizerFast' },
  texts.map(text => ({ text, ids: llama3.encode(text, { bos: false, eos: false }) })));
}
