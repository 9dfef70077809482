// The edge-case suite shared by the tokenizer parity tests: each string probes one place where a pre-tokenizer
// regex, a byte-level mapping, a normalizer or the merge loop can go wrong.
let seed = 12345;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
const randomWord = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join("");

export const EDGE_CASES: string[] = [
  "",
  " ",
  "   ",
  "\n",
  "\n\n\n",
  "\r\n",
  "\t\t x",
  "  hello  world  ",
  "hello   \n  world \n\n",
  "trailing spaces   ",
  "1234567890",
  "3.14159 and 2,718 and 1,000,000 and 007",
  "x=42;y=-3e10",
  "٣٤٥ ①② ¾",
  "I'm you're he's we'll they'd can't won't IT'S WE'LL THEY'D I'M",
  "'s 'S 't 're 've 'm 'll 'd",
  "rock 'n' roll, o'clock, ma'am",
  "👨‍👩‍👧‍👦 family",
  "🏳️‍🌈 flag, 👍🏽 thumbs, ❤️ heart",
  "大模型相关概念理解",
  "日本語のテキストと、かなカナ。",
  "한국어 텍스트입니다",
  "e\u0301 Cafe\u0301 na\u0308ive",
  "Café naïve résumé Ünïcödé ÀÉÎÕÜ",
  "ΑΒΓ αβγ Σίσυφος ς",
  "Привет, мир!",
  "हिन्दी भाषा",
  "ภาษาไทย",
  "recent Unicode: \u{2EBF0} \u{10D50}\u{10D51} \u{16D43} \u{11380} \u{1FAE9} \u{1CCF0}",
  "مرحبا بالعالم",
  "\u0000\u0001\u0002\u007f control",
  "x\u0085y\u00a0z\u2028w\u3000v",
  "\u00a0\u00a0leading nbsp",
  "\uFEFFhello with BOM",
  "a\uFEFFb",
  "\u200b zero\u200bwidth \u200d joiner",
  "function f(x) {\n\treturn x * 2; // double\n}\nconsole.log('hi');",
  "https://example.com/path?q=1&r=2#frag",
  "<html><body class=\"x\">text</body></html>",
  "$$$ !!! ??? ... --- ___ *** ### @@@",
  "MixedCASEWords likeThisOne AndTHISone",
  "tab\tseparated\tvalues\n",
  "a".repeat(10000),
  randomWord(10000),
  "ab".repeat(5000),
  "大模型相关概念理解".repeat(1111),
  " ".repeat(1000) + "x",
  "\n".repeat(500) + "y",
];

/** Inputs whose decode(encode(x)) cannot equal x for any tokenizer: lone surrogates are not valid Unicode text. */
export const LOSSY_CASES: string[] = ["\uD800 lone high", "lone low \uDC00"];

/** A 50,000-character word without spaces (must encode in well under a second). */
export const LONG_WORD = randomWord(50000);
