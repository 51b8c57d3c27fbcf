/*
 * web.h - the web UI's assets, compiled into the binary.
 *
 * web/build.mjs bundles web/src (preact + htm, marked, DOMPurify, highlight.js; docs/web.md) and
 * writes web_assets.c, which defines web_assets[]: each asset's bytes and their gzip, its content
 * type and its ETag. The server answers GET of an asset's path with it (gzipped when the client
 * accepts gzip), 304 when If-None-Match names its ETag.
 */
#ifndef SHOAL_WEB_H
#define SHOAL_WEB_H

#include <stddef.h>

typedef struct {
	const char *path;            /* "/", "/ui/app.js", "/ui/app.css" */
	const char *type;            /* Content-Type, e.g. "text/html; charset=utf-8" */
	const char *etag;            /* a quoted hash of data: "\"0123abcd...\"" */
	const unsigned char *data;   /* [len] */
	size_t len;
	const unsigned char *gz;     /* [gz_len]: data gzipped */
	size_t gz_len;
	int immutable;               /* named with ?v=ETAG by the page: cacheable for a year */
} web_asset;

extern const web_asset web_assets[];
extern const int web_n_assets;

#endif
