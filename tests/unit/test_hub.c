/*
 * test_hub.c - the hub layer without a network: model references (every spelling, and what is not
 * one), quant names out of real GGUF file names, picking a repo's file (quant, default, split sets,
 * ambiguity and the lists errors give), and the cache layout (links, refs, removal).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "hub/hub_pull.h"

static hub_ref ref_of(const char *s)
{
	hub_ref r;
	const char *why;
	cr_assert_eq(hub_ref_parse(s, &r, &why), 0, "%s: %s", s, why ? why : "");
	return r;
}

Test(hub, ref_spellings)
{
	hub_ref r = ref_of("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M");
	cr_assert_str_eq(r.org, "bartowski");
	cr_assert_str_eq(r.repo, "Llama-3.2-1B-Instruct-GGUF");
	cr_assert_str_eq(r.quant, "Q4_K_M");
	cr_assert_str_eq(r.file, "");
	r = ref_of("Qwen/Qwen2.5-0.5B-Instruct-GGUF");
	cr_assert_str_eq(r.repo, "Qwen2.5-0.5B-Instruct-GGUF");
	cr_assert_str_eq(r.quant, "");
	r = ref_of("org/repo/sub/dir/model-q8_0.gguf");
	cr_assert_str_eq(r.file, "sub/dir/model-q8_0.gguf");
	const char *same[] = { "hf.co/org/repo:q8_0", "huggingface.co/org/repo:q8_0", "https://huggingface.co/org/repo:q8_0",
			       "https://hf.co/org/repo:q8_0", "org/repo:q8_0" };
	for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
		r = ref_of(same[i]);
		cr_assert_str_eq(r.org, "org", "%s", same[i]);
		cr_assert_str_eq(r.repo, "repo", "%s", same[i]);
		cr_assert_str_eq(r.quant, "q8_0", "%s", same[i]);
		char buf[600];
		hub_ref_format(&r, buf, sizeof buf);
		cr_assert_str_eq(buf, "org/repo:q8_0");
	}
}

Test(hub, not_refs_say_why)
{
	const char *bad[] = { "", "model.gguf", "models/stories260K.gguf", "/abs/path.gguf", "./x/y", "org/",
			      "/repo", "org/repo:", "org/repo:Q4.gguf", "org/../x", "org/repo/../x.gguf", "org/repo/x.bin",
			      "org/repo//x.gguf", "org/repo/.hidden.gguf", "https://example.com/org/repo",
			      "org name/repo", "-org/repo", "org/.repo", "org/repo/", "org/repo/dir/", "huggingface.co/hf.co/x", "hf.co/huggingface.co/y" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		hub_ref r;
		const char *why = NULL;
		cr_assert_neq(hub_ref_parse(bad[i], &r, &why), 0, "'%s' parsed", bad[i]);
		cr_assert(why && strlen(why) > 3, "'%s': no reason", bad[i]);
	}
	char longname[400];
	memset(longname, 'a', sizeof longname);
	longname[399] = 0;
	longname[10] = '/';
	hub_ref r;
	const char *why;
	cr_assert_neq(hub_ref_parse(longname, &r, &why), 0);
}

Test(hub, quant_of_real_names)
{
	const char *cases[][2] = {
		{ "Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M" }, { "qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0" },
		{ "model.Q5_K_S.gguf", "Q5_K_S" }, { "ggml-model-f16.gguf", "F16" }, { "x-IQ4_XS.gguf", "IQ4_XS" },
		{ "Meta-Llama-3.1-70B-Instruct-Q4_K_M-00001-of-00002.gguf", "Q4_K_M" }, { "m-BF16.gguf", "BF16" },
		{ "sub/dir/phi-2.Q4_0.gguf", "Q4_0" }, { "gemma-2b-it-TQ1_0.gguf", "TQ1_0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char q[100];
		cr_assert(hub_quant_of(cases[i][0], q, sizeof q), "%s", cases[i][0]);
		cr_assert_str_eq(q, cases[i][1], "%s", cases[i][0]);
	}
	char q[100];
	cr_assert(!hub_quant_of("stories260K.gguf", q, sizeof q));
	cr_assert(!hub_quant_of("qwen2-model.gguf", q, sizeof q));
	cr_assert_float_eq(hub_quant_bits("Q4_K_M"), 4, 1e-9);
	cr_assert_float_eq(hub_quant_bits("IQ2_XXS"), 2, 1e-9);
	cr_assert_float_eq(hub_quant_bits("BF16"), 16, 1e-9);
}

static hub_file file(const char *path, uint64_t size)
{
	hub_file f;
	memset(&f, 0, sizeof f);
	snprintf(f.path, sizeof f.path, "%s", path);
	f.size = size;
	f.lfs = true;
	return f;
}

static const char *pick_one(const hub_file *f, int n, const char *ref, char *why, int *n_pick, int *pick)
{
	hub_ref r = ref_of(ref);
	if (hub_pick(f, n, &r, pick, n_pick, 16, why, 1024))
		return NULL;
	return f[pick[0]].path;
}

Test(hub, pick_by_quant_default_and_file)
{
	hub_file f[] = { file("README.md", 10), file("m-Q2_K.gguf", 100), file("m-Q3_K_M.gguf", 150),
			 file("m-Q5_K_M.gguf", 300), file("m-Q4_0.gguf", 250), file("m-Q8_0.gguf", 500),
			 file("m-F16.gguf", 900) };
	int n = sizeof f / sizeof *f, pick[16], k;
	char why[1024];
	cr_assert_str_eq(pick_one(f, n, "o/r:q8_0", why, &k, pick), "m-Q8_0.gguf");
	cr_assert_eq(k, 1);
	/* no Q4_K_M: the smallest of at least 4 bits */
	cr_assert_str_eq(pick_one(f, n, "o/r", why, &k, pick), "m-Q4_0.gguf");
	cr_assert_str_eq(pick_one(f, n, "o/r/m-F16.gguf", why, &k, pick), "m-F16.gguf");
	/* unknown: the error lists the quants */
	cr_assert_null(pick_one(f, n, "o/r:Q6_K", why, &k, pick));
	cr_assert(strstr(why, "o/r has no Q6_K") && strstr(why, "Q2_K") && strstr(why, "Q8_0") && strstr(why, "F16"), "%s", why);
	cr_assert_null(pick_one(f, n, "o/r/nope.gguf", why, &k, pick));
	cr_assert(strstr(why, "no file nope.gguf") && strstr(why, "Q4_0"), "%s", why);
	hub_file g[] = { file("m-Q4_K_M.gguf", 400), file("m-Q4_0.gguf", 250) };
	cr_assert_str_eq(pick_one(g, 2, "o/r", why, &k, pick), "m-Q4_K_M.gguf");
}

Test(hub, pick_ambiguous_lists_files)
{
	hub_file f[] = { file("a/m-Q4_K_M.gguf", 1), file("b/m-Q4_K_M.gguf", 2), file("m-Q8_0.gguf", 3) };
	int pick[16], k;
	char why[1024];
	cr_assert_null(pick_one(f, 3, "o/r:Q4_K_M", why, &k, pick));
	cr_assert(strstr(why, "ambiguous") && strstr(why, "a/m-Q4_K_M.gguf") && strstr(why, "b/m-Q4_K_M.gguf"), "%s", why);
	cr_assert_str_eq(pick_one(f, 3, "o/r/b/m-Q4_K_M.gguf", why, &k, pick), "b/m-Q4_K_M.gguf");
}

Test(hub, pick_split_sets_whole)
{
	hub_file f[] = { file("m-Q8_0-00002-of-00003.gguf", 10), file("m-Q8_0-00001-of-00003.gguf", 10),
			 file("m-Q8_0-00003-of-00003.gguf", 5), file("m-Q4_K_M-00001-of-00002.gguf", 8),
			 file("m-Q4_K_M-00002-of-00002.gguf", 8), file("m-F16-00001-of-00002.gguf", 8) };
	int n = sizeof f / sizeof *f, pick[16], k;
	char why[1024];
	cr_assert_str_eq(pick_one(f, n, "o/r:Q8_0", why, &k, pick), "m-Q8_0-00001-of-00003.gguf");
	cr_assert_eq(k, 3);
	cr_assert_str_eq(f[pick[1]].path, "m-Q8_0-00002-of-00003.gguf");
	cr_assert_str_eq(f[pick[2]].path, "m-Q8_0-00003-of-00003.gguf");
	cr_assert_str_eq(pick_one(f, n, "o/r", why, &k, pick), "m-Q4_K_M-00001-of-00002.gguf");
	cr_assert_eq(k, 2);
	/* a set missing a part is not offered */
	cr_assert_null(pick_one(f, n, "o/r:F16", why, &k, pick));
	cr_assert_null(pick_one(f, n, "o/r/m-F16-00001-of-00002.gguf", why, &k, pick));
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	fputs(data, f);
	fclose(f);
}

Test(hub, cache_layout_links_and_removal)
{
	char root[] = "/tmp/shoal-hub-test-XXXXXX";
	cr_assert(mkdtemp(root));
	hub_cache c;
	cr_assert_eq(hub_cache_init(&c, root), 0);
	hub_ref r = ref_of("org/repo:Q8_0");
	const char *sha = "aa00000000000000000000000000000000000000000000000000000000000001";
	const char *commit = "0123456789abcdef0123456789abcdef01234567";
	char blob[2048], link[2048], target[256];
	cr_assert_eq(hub_cache_blob_path(&c, &r, sha, false, blob, sizeof blob), 0);
	int lock = hub_cache_lock(&c, &r, sha);
	cr_assert_geq(lock, 0);
	cr_assert_eq(hub_cache_link(&c, &r, commit, "sub/m-Q8_0.gguf", sha), 0);
	char blobs[2048];
	snprintf(blobs, sizeof blobs, "%s/models--org--repo/blobs", root);
	cr_assert_eq(sh_mkdir_p(blobs, 0755, NULL), 0);
	write_file(blob, "weights");
	hub_cache_unlock(lock);
	cr_assert_eq(hub_cache_ref_write(&c, &r, commit), 0);
	snprintf(link, sizeof link, "%s/models--org--repo/snapshots/%s/sub/m-Q8_0.gguf", root, commit);
	ssize_t k = readlink(link, target, sizeof target - 1);
	cr_assert_gt(k, 0);
	target[k] = 0;
	cr_assert_str_eq(target, "../../../blobs/aa00000000000000000000000000000000000000000000000000000000000001");
	char head[HUB_COMMIT_MAX + 1];
	cr_assert_eq(hub_cache_ref_read(&c, &r, head), 0);
	cr_assert_str_eq(head, commit);

	hub_cached *m;
	int n;
	cr_assert_eq(hub_cached_models(&c, &m, &n), 0);
	cr_assert_eq(n, 1);
	char name[600];
	hub_ref_format(&m[0].ref, name, sizeof name);
	cr_assert_str_eq(name, "org/repo:Q8_0");
	cr_assert(m[0].complete && m[0].main);
	cr_assert_eq(m[0].size, 7);
	free(m);

	uint64_t freed;
	cr_assert_eq(hub_cached_remove(&c, &r, &freed), 0);
	cr_assert_eq(freed, 7);
	char repo[2048];
	snprintf(repo, sizeof repo, "%s/models--org--repo", root);
	struct stat st;
	cr_assert_neq(stat(repo, &st), 0, "the emptied repo stays");
	cr_assert_neq(hub_cached_remove(&c, &r, &freed), 0);
	char cmd[2200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	cr_assert_eq(system(cmd), 0);
}
