/*
 * anthropic.h - Anthropic's Messages API (POST /v1/messages, docs.anthropic.com/en/api/messages)
 * on the node's one generation path, as a dialect (dialect.h): the request body to an
 * api_request, the answer as a message or as Anthropic's stream of events, errors in its shape.
 * docs/api.md says what is supported.
 *
 * The parser is a pure function of the body, as openai_request.c's is (fuzzed by
 * tests/fuzz/fuzz_request.c).
 */
#ifndef SHOAL_ANTHROPIC_H
#define SHOAL_ANTHROPIC_H

#include "api/dialect.h"

/* what the generation path honours beyond plain text (anthropic_request_parse's accept): until it
 * does, a request asking for it is a 400 "not supported yet" */
#define ANTHROPIC_ACCEPT_FORMAT 1u   /* output_config.format (a JSON schema): req->format, req->schema */

extern const api_dialect api_anthropic;

/* body[0..len) to req (kind API_CHAT: the system prompt and the messages as [{role, content:
 * string}]): 0, or a negative code and err (400, or 503 out of memory). api_request_free either
 * way. */
int anthropic_request_parse(const char *body, size_t len, const api_limits *lim, unsigned accept, api_request *req,
			    api_error *err);

/* Anthropic's error type for an api_error: invalid_request_error, authentication_error,
 * permission_error, not_found_error, request_too_large, rate_limit_error, overloaded_error (the
 * node is busy or loading) or api_error */
const char *anthropic_error_type(const api_error *e);

#endif
