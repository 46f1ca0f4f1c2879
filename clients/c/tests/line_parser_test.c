// The line reader of libmio-client on its own: the fast path takes exactly
// the daemon's event lines (every flag set, tokens up to 2^64-1), json-c
// reads the same meaning from any other spelling, and replies, notices and
// garbage are told apart. No daemon needed.
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static struct json_tokener *tok;

static struct mioc_parsed_line parse(const char *text) {
    struct mioc_parsed_line p;
    mioc_parse_line(tok, text, strlen(text), &p);
    return p;
}

static bool fast(const char *text, uint64_t *token, uint32_t *flags) {
    return mioc_fast_event_line(text, strlen(text), token, flags);
}

/* The line exactly as the daemon writes it (docs/protocol.md, "The event line"). */
static void daemon_line(char *out, size_t size, uint64_t token, uint32_t flags) {
    const char *b[6];
    for (int k = 0; k < 6; k++) b[k] = (flags & (1u << k)) ? "true" : "false";
    snprintf(out, size,
             "{\"event\":\"ready\",\"token\":%llu,\"readable\":%s,\"writable\":%s,\"error\":%s,\"read_closed\":%s,"
             "\"write_closed\":%s,\"priority\":%s}",
             (unsigned long long)token, b[0], b[1], b[2], b[3], b[4], b[5]);
}

static void every_daemon_event_line(void) {
    const uint64_t tokens[] = {0, 1, 7, 1000000, 9223372036854775807ull, 12345678901234567890ull, UINT64_MAX};
    for (size_t t = 0; t < sizeof tokens / sizeof tokens[0]; t++) {
        for (uint32_t flags = 0; flags < 64; flags++) {
            char line[300];
            daemon_line(line, sizeof line, tokens[t], flags);
            uint64_t token = 0;
            uint32_t got = 99;
            CHECK(fast(line, &token, &got));
            CHECK(token == tokens[t] && got == flags);
            struct mioc_parsed_line p = parse(line);
            CHECK(p.kind == MIOC_LINE_EVENT && p.token == tokens[t] && p.flags == flags);
        }
    }
    // The flag bits are the header's.
    CHECK(MIO_EVENT_READABLE == 1 && MIO_EVENT_WRITABLE == 2 && MIO_EVENT_ERROR == 4 && MIO_EVENT_READ_CLOSED == 8 &&
          MIO_EVENT_WRITE_CLOSED == 16 && MIO_EVENT_PRIORITY == 32);
}

static void other_spellings_go_to_json_c(void) {
    uint64_t token;
    uint32_t flags;
    const char *spaced = "{\"event\": \"ready\", \"token\": 7, \"readable\": true, \"writable\": false, \"error\": false, "
                         "\"read_closed\": true, \"write_closed\": false, \"priority\": false}";
    CHECK(!fast(spaced, &token, &flags));
    struct mioc_parsed_line p = parse(spaced);
    CHECK(p.kind == MIOC_LINE_EVENT && p.token == 7 && p.flags == (MIO_EVENT_READABLE | MIO_EVENT_READ_CLOSED));

    const char *reordered = "{\"token\":42,\"event\":\"ready\",\"priority\":true,\"readable\":true}";
    CHECK(!fast(reordered, &token, &flags));
    p = parse(reordered);
    CHECK(p.kind == MIOC_LINE_EVENT && p.token == 42 && p.flags == (MIO_EVENT_READABLE | MIO_EVENT_PRIORITY));

    // Near misses of the fast path.
    const char *near[] = {
        "{\"event\":\"ready\",\"token\":,\"readable\":true,\"writable\":false,\"error\":false,\"read_closed\":false,"
        "\"write_closed\":false,\"priority\":false}",
        "{\"event\":\"ready\",\"token\":18446744073709551616,\"readable\":true,\"writable\":false,\"error\":false,"
        "\"read_closed\":false,\"write_closed\":false,\"priority\":false}",
        "{\"event\":\"ready\",\"token\":07,\"readable\":true,\"writable\":false,\"error\":false,\"read_closed\":false,"
        "\"write_closed\":false,\"priority\":false}",
        "{\"event\":\"ready\",\"token\":7,\"readable\":True,\"writable\":false,\"error\":false,\"read_closed\":false,"
        "\"write_closed\":false,\"priority\":false}",
        "{\"event\":\"ready\",\"token\":7,\"readable\":true,\"writable\":false,\"error\":false,\"read_closed\":false,"
        "\"write_closed\":false,\"priority\":false}x",
        "{\"event\":\"ready\",\"token\":7,\"readable\":true,\"writable\":false,\"error\":false,\"read_closed\":false,"
        "\"write_closed\":false,\"priority\":false",
        "{\"event\":\"ready\",\"token\":7,\"readable\":true}",
        "{\"event\":\"ready\",\"token\":7",
    };
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) CHECK(!fast(near[i], &token, &flags));
    // Truncated, trailing text, a missing token: not events.
    CHECK(parse(near[0]).kind == MIOC_LINE_BAD);
    CHECK(parse(near[4]).kind == MIOC_LINE_BAD);
    CHECK(parse(near[5]).kind == MIOC_LINE_BAD);
    CHECK(parse(near[7]).kind == MIOC_LINE_BAD);
    p = parse(near[6]);
    CHECK(p.kind == MIOC_LINE_EVENT && p.token == 7 && p.flags == MIO_EVENT_READABLE);
    CHECK(parse("{\"event\":\"ready\",\"token\":-1}").kind == MIOC_LINE_BAD);
    CHECK(parse("{\"event\":\"ready\",\"token\":\"7\"}").kind == MIOC_LINE_BAD);
}

static void notices_replies_and_garbage(void) {
    CHECK(parse("{\"event\":\"shutdown\"}").kind == MIOC_LINE_SHUTDOWN);
    CHECK(parse("{\"event\":\"session_taken\"}").kind == MIOC_LINE_SESSION_TAKEN);
    CHECK(parse("{\"event\":\"something_new\",\"token\":3}").kind == MIOC_LINE_OTHER_EVENT);

    struct mioc_parsed_line p = parse("{\"id\":3,\"ok\":true,\"token\":7}");
    CHECK(p.kind == MIOC_LINE_REPLY && p.ok && p.has_id && p.has_any_id && p.id == 3);
    p = parse("{\"id\":18446744073709551615,\"ok\":true}");
    CHECK(p.kind == MIOC_LINE_REPLY && p.has_id && p.id == UINT64_MAX);
    p = parse("{\"id\":4,\"ok\":false,\"error\":{\"code\":\"unknown_token\",\"message\":\"token 7 is not registered\"}}");
    CHECK(p.kind == MIOC_LINE_REPLY && !p.ok && p.has_id && p.id == 4);
    CHECK(strcmp(p.code, "unknown_token") == 0 && p.message && strcmp(p.message, "token 7 is not registered") == 0);
    p = parse("{\"ok\":false,\"error\":{\"code\":\"line_too_long\",\"message\":\"line longer than 65536 bytes; discarded\"}}");
    CHECK(p.kind == MIOC_LINE_REPLY && !p.ok && !p.has_any_id && strcmp(p.code, "line_too_long") == 0);
    p = parse("{\"id\":\"s\",\"ok\":true}");
    CHECK(p.kind == MIOC_LINE_REPLY && p.has_any_id && !p.has_id);
    p = parse("{\"id\":-5,\"ok\":true}");
    CHECK(p.kind == MIOC_LINE_REPLY && p.has_any_id && !p.has_id);
    p = parse("{\"id\":5,\"ok\":false}");
    CHECK(p.kind == MIOC_LINE_REPLY && !p.ok && strcmp(p.code, "internal") == 0 && p.message && *p.message);

    // A long message is cut at a character boundary.
    char line[4000];
    int n = snprintf(line, sizeof line, "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"");
    for (int i = 0; i < 600; i++) n += snprintf(line + n, sizeof line - (size_t)n, "\xc3\xa9");
    snprintf(line + n, sizeof line - (size_t)n, "\"}}");
    p = parse(line);
    size_t len = strlen(p.message);
    CHECK(len > 400 && len < sizeof p.message_buf && len % 2 == 0);
    CHECK(((unsigned char)p.message[len - 1] & 0xC0) == 0x80);  // ends on the last byte of an é

    const char *garbage[] = {"", "hello", "[1]", "42", "{}", "{\"x\":1}", "{\"ok\":true} {\"ok\":true}", "{\"ok\":"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) CHECK(parse(garbage[i]).kind == MIOC_LINE_BAD);
}

int main(void) {
    tok = json_tokener_new();
    every_daemon_event_line();
    other_spellings_go_to_json_c();
    notices_replies_and_garbage();
    json_tokener_free(tok);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
