// Encodes each text with gpt-3-encoder, a port of OpenAI's GPT-2 encoder.py,
// so the C++ tokenizer is compared with the reference algorithm itself.
const fs = require('fs');
const { encode } = require('gpt-3-encoder');
const [input, output] = process.argv.slice(2);
const texts = JSON.parse(fs.readFileSync(input, 'utf-8'));
const expected = texts.map(text => ({ text, ids: encode(text) }));
fs.writeFileSync(output, JSON.stringify(expected));
