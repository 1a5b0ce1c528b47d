// node gen.js > lzstring_npm.json : what the npm lz-string package gives for a few values
const LZ = require("lz-string");
const inputs = [
  "https://tt-4f2a9c7e.example.net/read/9b1e77?s=amber telltale",
  JSON.stringify({event: "pageview", url: "https://tt-4f2a9c7e.example.net/read/9b1e77", props: {a: 1, b: [true, null]}}),
  "Zq7Xw2Pk9Lm4Rt8v",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
  "caf\u00e9 \u4e2d\u6587 \ud83d\ude00 telltale-canary \u00fc",
  "x",
  Array.from({length: 60}, (_, i) => `{"t":${1700000000 + i},"ev":"scroll","y":${i * 37 % 500}}`).join(","),
];
const out = {
  generated_by: "node gen.js (tests/detect/data/lzstring_npm.gen.js) with lz-string " + require("lz-string/package.json").version +
    " from npm (cd /tmp/lzs && npm init -y && npm install lz-string), node " + process.version,
  cases: inputs.map((input) => ({
    input,
    base64: LZ.compressToBase64(input),
    uri: LZ.compressToEncodedURIComponent(input),
    utf16: LZ.compressToUTF16(input),
    raw: LZ.compress(input),
  })),
};
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
