/*
 * bpe.c - the byte-level BPE tokenizer (tokenizer.ggml.model = "gpt2"), as llama.cpp's
 * llm_tokenizer_bpe does it, so ids match llama.cpp's (and Hugging Face's) exactly:
 *
 *   1. pre-tokenize: the regexes named by tokenizer.ggml.pre (tables below, from llama.cpp's
 *      llama-vocab.cpp) cut the text in turn: each regex splits every piece the previous one left
 *      into its matches and the gaps between them (both kept, in order). Done depth-first, so no
 *      list of pieces is ever built. Regexes are PCRE2 (UTF + UCP, so \p{L}, \s, \d are Unicode;
 *      JIT-compiled when the platform has it), and each piece is the whole subject of its match,
 *      so lookaheads and $ stop at the piece's end, as with llama.cpp's std::regex;
 *   2. each pre-token ("word") becomes one symbol per byte, each the token of that byte's GPT-2
 *      byte-level character (bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 *      other 68 bytes for U+0100..U+0143, in byte order);
 *   3. with ignore_merges (the Llama 3 family), a word whose byte-level spelling is a token is
 *      that token, before any merge. Without it, the same shortcut is taken only for tokens
 *      flagged at load because merging their own bytes gives them back (VOCAB_F_BPE_WORD): the
 *      result merging would give, in one lookup. Most words of prose and code are such tokens;
 *      flagging costs ~60 ms at load for Qwen2's 152k tokens and gives 1.4-1.7x throughput;
 *   4. otherwise adjacent symbol pairs that have a merge go into a min-heap keyed by
 *      (merge rank << 32 | left index): lowest rank first, leftmost on ties; the popped pair is
 *      merged (the left symbol becomes the merge's result token, the right one leaves the chain)
 *      and the new neighbour pairs are pushed. A heap entry is stale when its left symbol no
 *      longer holds the merge's left token or its right neighbour no longer holds the right one
 *      (symbols only grow, and a text has one id, so a token id never comes back);
 *   5. every symbol is a token by construction; a byte with no byte-level token becomes unk, or
 *      the call fails (SH_EUNSUP) when there is no unk.
 *
 * Merges: tokenizer.ggml.merges[i] = "A B" has rank i (split at the first space after the first
 * byte, as llama.cpp). They are kept in an open-addressing table keyed by the id pair (A, B),
 * Fibonacci-hashed, 16 bytes a slot, plus a rank -> slot index. A merge whose A, B or A+B is not a
 * token cannot take part in id-based merging: it is skipped, with one warning giving the count
 * (none are in the llama.cpp test vocabs). A repeated pair keeps its first (lowest) rank.
 *
 * tokenizer.ggml.pre: an unknown name is an error (SH_EUNSUP naming it), as in current llama.cpp,
 * because a wrong pre-tokenizer silently gives other ids than the model was trained on. A missing
 * key selects "default" with a warning (llama.cpp does the same). Names whose pre-tokenizer
 * llama.cpp implements with hand-written code rather than a regex (kimi-k2, afmoe, superbpe,
 * tiny_aya), or which are not byte-level (gemma4, sarvam-moe, whitespace) or need SEP tokens
 * (jina-v1-en, roberta-bpe) are not supported. Where llama.cpp rewrote a tokenizer.json regex for
 * std::regex (case-insensitive contractions, \p{Lu}-style classes, possessive quantifiers), the
 * original is used: PCRE2 runs it as written.
 *
 * Invalid UTF-8 in the input: PCRE2_MATCH_INVALID_UTF makes such bytes match nothing, so they
 * end up in gap pieces and are byte-encoded like any other byte: the tokens still decode to the
 * exact input bytes (llama.cpp replaces each with U+FFFD instead).
 *
 * Threads: the vocab is read-only; all scratch (symbols, heap, spelling buffer) is per call,
 * on the stack for words up to BPE_STACK bytes, grown on the heap only for longer words, plus one
 * PCRE2 match block per raw fragment. PCRE2 JIT runs on its default 32 KiB stack; the patterns'
 * repeats are of single characters, so 1 MB runs of one class (spaces, letters, digits...) need
 * no more (tested up to 1 MiB).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "vocab/vocab_impl.h"

#include <inttypes.h>

/* ---------------------------------------------------------------- pre-tokenizer tables */
#define RE_CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
/* tokenizer.json of Llama 3 (also dbrx, smaug, glm4) */
#define RE_LLAMA3 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
	"\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* GPT-2 */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Qwen2: Llama 3's with single digits */
#define RE_QWEN2 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
	"\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* GPT-4o (o200k), also Llama 4 and Tekken's shape: case-aware words */
#define RE_WORDS_CASED "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
#define RE_WORDS_UPPER "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
#define RE_STARCODER_DIGIT "\\p{N}"
/* DeepSeek's CJK runs: U+4E00..U+9FA5, U+0800..U+4E00, U+AC00..U+D7FF */
#define RE_DEEPSEEK_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* Bloom, Poro, GPT3-Finnish: " ?[^(\s|.,!?…。，、।۔،)]+" */
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"

static const char *const re_default[] = { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL };
static const char *const re_llama3[] = { RE_LLAMA3, NULL };
static const char *const re_gpt2[] = { RE_GPT2, NULL };
static const char *const re_qwen2[] = { RE_QWEN2, NULL };
static const char *const re_qwen35[] = {
	RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
	"\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL };
static const char *const re_starcoder[] = { RE_STARCODER_DIGIT, RE_GPT2, NULL };
static const char *const re_falcon[] = { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL };
static const char *const re_deepseek_llm[] = {
	"[\r\n]",
	/* cased letters, as written in DeepSeek's tokenizer.json (escaped: several of these code
	 * points, e.g. U+212A KELVIN SIGN, normalize to ASCII when copied as text) */
	"\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
	"\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
	"\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}"
	"\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
	"\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}"
	"\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}"
	"\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"
	"\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
	"\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
	"\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
	"\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
	"\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
	"\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
	"\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
	"\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
	"\\x{1E900}-\\x{1E943}]+",
	/* ASCII and full-width punctuation, curly quotes, ideographic space and marks */
	"\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
	"\\s+$",
	RE_DEEPSEEK_CJK,
	"\\p{N}+",
	NULL };
static const char *const re_deepseek_coder[] = { "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK, "\\p{N}", NULL };
static const char *const re_deepseek3[] = {
	"\\p{N}{1,3}",
	"[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
	"[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
	" ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
	NULL };
static const char *const re_poro[] = { RE_PORO, NULL };
static const char *const re_viking[] = { RE_PORO, "\\p{N}", NULL };
static const char *const re_tekken[] = {
	RE_WORDS_CASED "|" RE_WORDS_UPPER "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	NULL };
static const char *const re_gpt4o[] = {
	RE_WORDS_CASED RE_CONTRACTIONS "?|" RE_WORDS_UPPER RE_CONTRACTIONS "?|\\p{N}{1,3}|"
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
	NULL };
static const char *const re_chameleon[] = {
	"<sentinel:[0-9]+>",
	"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
	"([\\t\\n]|    |  )",
	"\\p{N}",
	"[\\p{P}!-/:-@\\[-`{-~]",
	RE_GPT2,
	NULL };
static const char *const re_bailingmoe[] = {
	"'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|"
	"\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
	NULL };
static const char *const re_seed_coder[] = {
	RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|"
	"\\s+(?!\\S)|\\s+",
	NULL };
static const char *const re_jais2[] = {
	RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	"\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|"
	"\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
	NULL };
static const char *const re_minicpm5[] = {
	"\\p{N}{1,3}",
	RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
	"\\s+(?!\\S)|\\s+",
	NULL };

enum { PRE_IGNORE_MERGES = 1, PRE_ADD_BOS = 2 };

typedef struct {
	const char *name;
	const char *const *re;
	uint8_t flags;
} bpe_pre;

/* tokenizer.ggml.pre -> regexes and flags, as llama.cpp's llama_vocab::impl::load maps them */
static const bpe_pre pre_table[] = {
	{ "default", re_default, 0 },
	{ "llama3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "llama-v3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "llama-bpe", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "falcon3", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "falcon-h1", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "pixtral", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "midm-2.0", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "lfm2", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "jina-v5-nano", re_llama3, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "dbrx", re_llama3, 0 },
	{ "smaug-bpe", re_llama3, 0 },
	{ "glm4", re_llama3, 0 },
	{ "chatglm-bpe", re_llama3, 0 },
	{ "deepseek-llm", re_deepseek_llm, 0 },
	{ "deepseek-coder", re_deepseek_coder, 0 },
	{ "deepseek-v3", re_deepseek3, 0 },
	{ "hunyuan-dense", re_deepseek3, 0 },
	{ "joyai-llm", re_deepseek3, 0 },
	{ "hy_v4", re_deepseek3, 0 },
	{ "falcon", re_falcon, 0 },
	{ "gpt-2", re_gpt2, 0 },
	{ "phi-2", re_gpt2, 0 },
	{ "mpt", re_gpt2, 0 },
	{ "olmo", re_gpt2, 0 },
	{ "jais", re_gpt2, 0 },
	{ "trillion", re_gpt2, 0 },
	{ "granite-docling", re_gpt2, 0 },
	{ "exaone4", re_gpt2, 0 },
	{ "gigachat", re_gpt2, 0 },
	{ "a.x-4.0", re_gpt2, 0 },
	{ "mellum", re_gpt2, 0 },
	{ "jina-es", re_gpt2, 0 },
	{ "jina-de", re_gpt2, 0 },
	{ "jina-v2-es", re_gpt2, 0 },
	{ "jina-v2-de", re_gpt2, 0 },
	{ "modern-bert", re_gpt2, 0 },
	{ "starcoder", re_starcoder, 0 },
	{ "refact", re_starcoder, 0 },
	{ "command-r", re_starcoder, 0 },
	{ "smollm", re_starcoder, 0 },
	{ "codeshell", re_starcoder, 0 },
	{ "exaone", re_starcoder, 0 },
	{ "minerva-7b", re_starcoder, 0 },
	{ "mellum2", re_starcoder, 0 },
	{ "qwen2", re_qwen2, 0 },
	{ "deepseek-r1-qwen", re_qwen2, 0 },
	{ "kormo", re_qwen2, 0 },
	{ "f2llmv2", re_qwen2, 0 },
	{ "megrez", re_qwen2, 0 },
	{ "stablelm2", re_qwen2, 0 },
	{ "hunyuan", re_qwen2, 0 },
	{ "solar-open", re_qwen2, 0 },
	{ "grok-2", re_qwen2, 0 },
	{ "qwen35", re_qwen35, 0 },
	{ "poro-chat", re_poro, 0 },
	{ "bloom", re_poro, 0 },
	{ "gpt3-finnish", re_poro, 0 },
	{ "viking", re_viking, 0 },
	{ "tekken", re_tekken, PRE_IGNORE_MERGES | PRE_ADD_BOS },
	{ "chameleon", re_chameleon, PRE_ADD_BOS },
	{ "gpt-4o", re_gpt4o, 0 },
	{ "llama4", re_gpt4o, 0 },
	{ "kanana2", re_gpt4o, 0 },
	{ "talkie", re_gpt4o, 0 },
	{ "minimax-m2", re_gpt4o, 0 },
	{ "bailingmoe", re_bailingmoe, 0 },
	{ "bailingmoe2", re_bailingmoe, 0 },
	{ "llada-moe", re_bailingmoe, 0 },
	{ "seed-coder", re_seed_coder, 0 },
	{ "jais-2", re_jais2, 0 },
	{ "minicpm5", re_minicpm5, PRE_IGNORE_MERGES },
};

const char *vocab_bpe_pre_name(int i)
{
	return i >= 0 && i < (int)SH_ARRAY_LEN(pre_table) ? pre_table[i].name : NULL;
}

/* ---------------------------------------------------------------- the model */
enum { BPE_MAX_RE = 6 };

typedef struct {
	int32_t a, b;       /* the pair's token ids; a = -1: empty slot */
	int32_t rank, res;  /* merge rank, id of the token a+b */
} bpe_merge;

struct bpe_model {
	pcre2_code *re[BPE_MAX_RE];
	int n_re;
	bool ignore_merges;
	bpe_merge *slot;      /* [mask + 1] (a, b) -> merge */
	uint32_t mask;
	int shift;            /* 64 - log2(mask + 1) */
	uint32_t *rank_slot;  /* [n_merges] rank -> its slot */
	int n_merges;
};

void bpe_free(struct bpe_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_re; i++)
		pcre2_code_free(m->re[i]);
	sh_free(m->slot);
	sh_free(m->rank_slot);
	sh_free(m);
}

static inline uint32_t pair_hash(const struct bpe_model *m, int32_t a, int32_t b)
{
	uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(k >> m->shift);
}

/* the merge of tokens (a, b), or NULL */
static inline const bpe_merge *merge_find(const struct bpe_model *m, int32_t a, int32_t b)
{
	for (uint32_t i = pair_hash(m, a, b);; i = (i + 1) & m->mask) {
		const bpe_merge *s = &m->slot[i];
		if (s->a == a && s->b == b)
			return s;
		if (s->a < 0)
			return NULL;
	}
}

/* ---------------------------------------------------------------- byte-level alphabet */
/* GPT-2 bytes_to_unicode: the code point byte b is written as */
static inline uint32_t byte_cp(uint8_t b)
{
	if (b <= 0x20)
		return 0x100 + b;              /* 33 controls and space: U+0100..U+0120 */
	if (b >= 0x7F && b <= 0xA0)
		return 0x121 + (b - 0x7F);     /* DEL, C1 controls, NBSP: U+0121..U+0142 */
	if (b == 0xAD)
		return 0x143;                  /* soft hyphen */
	return b;
}

/* the byte code point cp stands for, or -1 */
static inline int cp_byte(uint32_t cp)
{
	if (cp >= 0x100 && cp <= 0x120)
		return (int)cp - 0x100;
	if (cp >= 0x121 && cp <= 0x142)
		return (int)(cp - 0x121) + 0x7F;
	if (cp == 0x143)
		return 0xAD;
	if (cp < 0x100 && byte_cp((uint8_t)cp) == cp)
		return (int)cp;
	return -1;
}

/* writes byte b's byte-level character (1 or 2 bytes of UTF-8); returns its length */
static inline int byte_spell(uint8_t b, char *out)
{
	uint32_t cp = byte_cp(b);
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xC0 | (cp >> 6));
	out[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

uint32_t bpe_decode_text(const char *s, uint32_t n, char *out)
{
	uint32_t w = 0;
	for (uint32_t i = 0; i < n;) {
		uint8_t c = (uint8_t)s[i];
		/* the two-byte byte-level characters (U+0080..U+0143) have lead bytes C2..C5 */
		if (c >= 0xC2 && c <= 0xC5 && i + 1 < n && ((uint8_t)s[i + 1] & 0xC0) == 0x80) {
			int b = cp_byte((uint32_t)(c & 0x1F) << 6 | ((uint8_t)s[i + 1] & 0x3F));
			if (b >= 0) {
				out[w++] = (char)b;
				i += 2;
				continue;
			}
		}
		/* ASCII is itself; anything else is not a byte-level character (e.g. a CJK character in
		 * an added token) and stands for itself too, byte by byte */
		out[w++] = (char)c;
		i++;
	}
	return w;
}

/* ---------------------------------------------------------------- loading */
static int pre_compile(struct bpe_model *m, const bpe_pre *pre, const char *path)
{
	for (const char *const *re = pre->re; *re; re++) {
		SH_ASSERT(m->n_re < BPE_MAX_RE);
		int code;
		PCRE2_SIZE at;
		pcre2_code *c = pcre2_compile((PCRE2_SPTR)*re, PCRE2_ZERO_TERMINATED,
					      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &at, NULL);
		if (!c) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(code, msg, sizeof msg);
			sh_log_error("%s: pre-tokenizer '%s': regex %d does not compile at offset %zu: %s", path,
				     pre->name, m->n_re, (size_t)at, (const char *)msg);
			return SH_EUNSUP;
		}
		m->re[m->n_re++] = c;
		/* no JIT on this platform (or no memory for it): the interpreter gives the same result */
		if ((code = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE)) < 0)
			sh_log_debug("%s: pre-tokenizer '%s': regex %d runs without JIT (%d)", path, pre->name,
				     m->n_re - 1, code);
	}
	return SH_OK;
}

static int merges_load(vocab *v, struct bpe_model *m, const gguf_ctx *g)
{
	const gguf_kv *kv = gguf_kv_find(g, "tokenizer.ggml.merges");
	if (!kv || kv->type != GGUF_T_ARRAY || kv->arr_type != GGUF_T_STRING) {
		sh_log_error("%s: tokenizer.ggml.merges %s", g->path, kv ? "is not an array of strings" : "is missing");
		return SH_EFORMAT;
	}
	if (kv->arr_n > INT32_MAX / 4) {
		sh_log_error("%s: tokenizer.ggml.merges has %" PRIu64 " entries", g->path, kv->arr_n);
		return SH_EFORMAT;
	}
	int n = (int)kv->arr_n;
	uint32_t cap = 16;
	int bits = 4;
	while (cap < (uint32_t)n + (uint32_t)n / 3 + 1) { /* load <= 3/4 */
		cap *= 2;
		bits++;
	}
	m->slot = sh_alloc((size_t)cap * sizeof *m->slot);
	m->rank_slot = sh_alloc((size_t)SH_MAX(n, 1) * sizeof *m->rank_slot);
	char *cat = NULL;
	size_t cat_cap = 0;
	if (!m->slot || !m->rank_slot)
		return SH_ENOMEM;
	memset(m->slot, 0xff, (size_t)cap * sizeof *m->slot);
	m->mask = cap - 1;
	m->shift = 64 - bits;

	int skipped = 0, first_bad = -1;
	for (int r = 0; r < n; r++) {
		gguf_str s = gguf_arr_str(g, kv, (uint64_t)r);
		const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
		int a = -1, b = -1, res = -1;
		if (sp) {
			size_t na = (size_t)(sp - s.ptr), nb = s.len - na - 1;
			a = vocab_find(v, s.ptr, na);
			b = vocab_find(v, sp + 1, nb);
			if (na + nb > cat_cap) {
				sh_free(cat);
				cat_cap = 2 * (na + nb);
				if (!(cat = sh_alloc(cat_cap)))
					return SH_ENOMEM;
			}
			memcpy(cat, s.ptr, na);
			memcpy(cat + na, sp + 1, nb);
			res = vocab_find(v, cat, na + nb);
		}
		if (a < 0 || b < 0 || res < 0) {
			if (!skipped++)
				first_bad = r;
			continue;
		}
		uint32_t i = pair_hash(m, a, b);
		while (m->slot[i].a >= 0 && !(m->slot[i].a == a && m->slot[i].b == b))
			i = (i + 1) & m->mask;
		if (m->slot[i].a >= 0)
			continue; /* a repeated pair keeps its first rank */
		m->slot[i] = (bpe_merge){ a, b, m->n_merges, res };
		m->rank_slot[m->n_merges++] = i;
	}
	sh_free(cat);
	if (skipped) {
		gguf_str s = gguf_arr_str(g, kv, (uint64_t)first_bad);
		sh_log_warn("%s: %d of %d merges skipped: not two tokens whose concatenation is a token "
			    "(first: #%d '%.*s')", g->path, skipped, n, first_bad, (int)SH_MIN(s.len, 64u), s.ptr);
	}
	return SH_OK;
}

static void words_mark(vocab *v);

int bpe_load(vocab *v, const gguf_ctx *g, bool *add_bos_default)
{
	const bpe_pre *pre = NULL;
	gguf_str name;
	if (!gguf_kv_find(g, "tokenizer.ggml.pre")) {
		sh_log_warn("%s: no tokenizer.ggml.pre: using the 'default' pre-tokenizer; ids may differ "
			    "from the model's own tokenizer", g->path);
		pre = &pre_table[0];
	} else if (!gguf_get_str(g, "tokenizer.ggml.pre", &name)) {
		sh_log_error("%s: tokenizer.ggml.pre is not a string", g->path);
		return SH_EFORMAT;
	} else {
		for (size_t i = 0; i < SH_ARRAY_LEN(pre_table) && !pre; i++)
			if (gguf_str_eq(name, pre_table[i].name))
				pre = &pre_table[i];
		if (!pre) {
			sh_log_error("%s: unknown BPE pre-tokenizer '%.*s' (tokenizer.ggml.pre)", g->path,
				     (int)SH_MIN(name.len, 64u), name.ptr);
			return SH_EUNSUP;
		}
	}

	struct bpe_model *m = v->bpe = sh_alloc(sizeof *m);
	if (!m)
		return SH_ENOMEM;
	m->ignore_merges = pre->flags & PRE_IGNORE_MERGES;
	*add_bos_default = pre->flags & PRE_ADD_BOS;
	int rc;
	if ((rc = pre_compile(m, pre, g->path)) < 0 || (rc = merges_load(v, m, g)) < 0)
		return rc;

	int missing = 0;
	for (int b = 0; b < 256; b++) {
		char spell[2];
		int id = vocab_find(v, spell, (size_t)byte_spell((uint8_t)b, spell));
		missing += id < 0;
		v->byte_tok[b] = id >= 0 ? id : v->unk;
	}
	if (missing)
		sh_log_warn("%s: %d of the 256 byte-level characters are not tokens (%s)", g->path, missing,
			    v->unk >= 0 ? "they become unk" : "text with those bytes cannot be tokenized");
	if (!m->ignore_merges)
		words_mark(v);
	return SH_OK;
}

/* ---------------------------------------------------------------- tokenizing */
enum { BPE_STACK = 128 }; /* words up to this many bytes use only stack scratch */

typedef struct {
	int32_t id;         /* token; -1 once merged into its left neighbour (or a byte with no token) */
	int32_t prev, next; /* neighbours in the chain, -1 at the ends */
} bpe_sym;

typedef struct {
	const vocab *v;
	vocab_out *o;
	pcre2_match_data *md;
	size_t cap;         /* words up to cap bytes fit sym, heap, spell */
	bpe_sym *sym;       /* [cap] */
	uint64_t *heap;     /* [3 * cap]: n - 1 pairs at first, then at most 2 per merge */
	char *spell;        /* [2 * cap] the word's byte-level spelling */
	bpe_sym sym0[BPE_STACK];
	uint64_t heap0[3 * BPE_STACK];
	char spell0[2 * BPE_STACK];
} bpe_ctx;

static void ctx_init(bpe_ctx *c, const vocab *v, vocab_out *o, pcre2_match_data *md)
{
	c->v = v;
	c->o = o;
	c->md = md;
	c->cap = BPE_STACK;
	c->sym = c->sym0;
	c->heap = c->heap0;
	c->spell = c->spell0;
}

static void ctx_release(bpe_ctx *c)
{
	if (c->sym != c->sym0) {
		sh_free(c->sym);
		sh_free(c->heap);
		sh_free(c->spell);
	}
}

static int ctx_reserve(bpe_ctx *c, size_t n)
{
	if (n <= c->cap)
		return SH_OK;
	size_t cap = SH_MAX(n, 2 * c->cap);
	bpe_sym *sym = sh_alloc(cap * sizeof *sym);
	uint64_t *heap = sh_alloc(3 * cap * sizeof *heap);
	char *spell = sh_alloc(2 * cap);
	if (!sym || !heap || !spell) {
		sh_free(sym);
		sh_free(heap);
		sh_free(spell);
		return SH_ENOMEM;
	}
	ctx_release(c);
	c->sym = sym;
	c->heap = heap;
	c->spell = spell;
	c->cap = cap;
	return SH_OK;
}

static inline void heap_push(uint64_t *h, size_t *n, uint64_t x)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h[parent] <= x)
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = x;
}

static inline uint64_t heap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], last = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= last)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

/* pushes the pair (left, its next) if there is a merge for it */
static inline void try_pair(const struct bpe_model *m, const bpe_sym *sym, int left, uint64_t *h, size_t *n)
{
	int right = left >= 0 ? sym[left].next : -1;
	if (right < 0 || sym[left].id < 0 || sym[right].id < 0)
		return;
	const bpe_merge *mg = merge_find(m, sym[left].id, sym[right].id);
	if (mg)
		heap_push(h, n, (uint64_t)(uint32_t)mg->rank << 32 | (uint32_t)left);
}

static int emit(bpe_ctx *c, int id)
{
	if (id < 0) {
		sh_log_error("vocab: a byte has no byte-level token and there is no unknown token");
		return SH_EUNSUP;
	}
	vocab_out_push(c->o, id);
	return SH_OK;
}

/* merges bytes s[0..n) (n <= c->cap): the chain from c->sym[0] holds the resulting tokens */
static void merge_bytes(bpe_ctx *c, const uint8_t *s, size_t n)
{
	const vocab *v = c->v;
	const struct bpe_model *m = v->bpe;
	bpe_sym *sym = c->sym;
	for (size_t i = 0; i < n; i++)
		sym[i] = (bpe_sym){ v->byte_tok[s[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1 };
	size_t nh = 0;
	for (size_t i = 0; i + 1 < n; i++)
		try_pair(m, sym, (int)i, c->heap, &nh);
	while (nh) {
		uint64_t top = heap_pop(c->heap, &nh);
		int left = (int)(uint32_t)top;
		const bpe_merge *mg = &m->slot[m->rank_slot[top >> 32]];
		int right = sym[left].next;
		if (sym[left].id != mg->a || right < 0 || sym[right].id != mg->b)
			continue; /* stale */
		sym[left].id = mg->res;
		sym[left].next = sym[right].next;
		if (sym[right].next >= 0)
			sym[sym[right].next].prev = left;
		sym[right].id = -1;
		try_pair(m, sym, sym[left].prev, c->heap, &nh);
		try_pair(m, sym, left, c->heap, &nh);
	}
}

/* one pre-token: bytes s[0..n), n > 0 */
static int bpe_word(bpe_ctx *c, const uint8_t *s, size_t n)
{
	const vocab *v = c->v;
	if (n == 1)
		return emit(c, v->byte_tok[s[0]]);
	int rc;
	if ((rc = ctx_reserve(c, n)) < 0)
		return rc;
	/* a whole-word token: taken as is with ignore_merges, else only if merging gives it anyway */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += (size_t)byte_spell(s[i], c->spell + k);
	int id = vocab_find(v, c->spell, k);
	if (id >= 0 && (v->bpe->ignore_merges || (v->flags[id] & VOCAB_F_BPE_WORD)))
		return emit(c, id);

	merge_bytes(c, s, n);
	for (int i = 0; i >= 0; i = c->sym[i].next)
		if ((rc = emit(c, c->sym[i].id)) < 0)
			return rc;
	return SH_OK;
}

/* splits s[0..n) with regex `level` and passes each match and gap to the next level; past the
 * last regex, the piece is a word */
static int pre_split(bpe_ctx *c, int level, const char *s, size_t n)
{
	const struct bpe_model *m = c->v->bpe;
	if (level == m->n_re)
		return bpe_word(c, (const uint8_t *)s, n);
	int rc;
	size_t done = 0; /* s[0..done) has been passed on */
	while (done < n) {
		/* PCRE2_NOTEMPTY: no table regex relies on empty matches, and they could not advance */
		int mr = pcre2_match(m->re[level], (PCRE2_SPTR)s, n, done, PCRE2_NOTEMPTY, c->md, NULL);
		if (mr == PCRE2_ERROR_NOMATCH)
			break;
		if (mr < 0) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(mr, msg, sizeof msg);
			sh_log_error("vocab: pre-tokenizer regex %d failed on a %zu-byte piece: %s", level, n,
				     (const char *)msg);
			return SH_ERANGE;
		}
		const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
		size_t start = ov[0], end = ov[1];
		if (start > done && (rc = pre_split(c, level + 1, s + done, start - done)) < 0)
			return rc;
		if ((rc = pre_split(c, level + 1, s + start, end - start)) < 0)
			return rc;
		done = end;
	}
	if (done < n)
		return pre_split(c, level + 1, s + done, n - done);
	return SH_OK;
}

int bpe_tokenize(const vocab *v, const char *text, size_t len, vocab_out *o)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md) {
		sh_log_error("vocab: out of memory for a regex match block");
		return SH_ENOMEM;
	}
	bpe_ctx c;
	ctx_init(&c, v, o, md);
	int rc = pre_split(&c, 0, text, len);
	ctx_release(&c);
	pcre2_match_data_free(md);
	return rc;
}

/* Flags the normal tokens of up to BPE_STACK bytes that merging their own bytes gives back as one
 * token (VOCAB_F_BPE_WORD): a pre-token spelled like one of them is that token without merging,
 * the same result in one lookup. The rest (a few percent: merges reach them only inside longer
 * words, or never) keep the merge path. */
static void words_mark(vocab *v)
{
	bpe_ctx c;
	ctx_init(&c, v, NULL, NULL); /* words of up to BPE_STACK bytes: no allocation, nothing to release */
	for (int id = 0; id < v->n_tokens; id++) {
		uint32_t n = v->piece_off[id + 1] - v->piece_off[id];
		if (v->type[id] != VOCAB_TT_NORMAL || n < 2 || n > BPE_STACK)
			continue;
		merge_bytes(&c, (const uint8_t *)v->piece + v->piece_off[id], n);
		if (c.sym[0].next < 0 && c.sym[0].id == id)
			v->flags[id] |= VOCAB_F_BPE_WORD;
	}
}
