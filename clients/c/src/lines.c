/* What one line from the daemon says. Event lines, nearly all of the
 * traffic, are read without json-c when they have the exact form the daemon
 * writes (docs/protocol.md, "The event line": seven keys in this order):
 *     {"event":"ready","token":N,"readable":B,"writable":B,"error":B,
 *      "read_closed":B,"write_closed":B,"priority":B}
 * Everything else (replies, notices, any other spelling) goes through json-c. */
#include "internal.h"

#include <json-c/json.h>
#include <string.h>

#define LITERAL(s) s, sizeof(s) - 1

static const char EVENT_PREFIX[] = "{\"event\":\"ready\",\"token\":";

/* The six keys in the daemon's order; key k carries flag bit 1 << k, which
 * is MIO_EVENT_READABLE ... MIO_EVENT_PRIORITY. */
static const struct {
    const char *text;
    size_t len;
} FLAG_KEYS[6] = {
    {LITERAL(",\"readable\":")},    {LITERAL(",\"writable\":")},     {LITERAL(",\"error\":")},
    {LITERAL(",\"read_closed\":")}, {LITERAL(",\"write_closed\":")}, {LITERAL(",\"priority\":")},
};
static const char *const FLAG_NAMES[6] = {"readable", "writable", "error", "read_closed", "write_closed", "priority"};

bool mioc_fast_event_line(const char *p, size_t len, uint64_t *token_out, uint32_t *flags_out) {
    size_t i = sizeof EVENT_PREFIX - 1;
    if (len < i || memcmp(p, EVENT_PREFIX, i) != 0) return false;
    size_t digits = i;
    uint64_t token = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        unsigned d = (unsigned)(p[i] - '0');
        if (token > (UINT64_MAX - d) / 10) return false;
        token = token * 10 + d;
        i++;
    }
    if (i == digits || (p[digits] == '0' && i - digits > 1)) return false;
    uint32_t flags = 0;
    for (int k = 0; k < 6; k++) {
        size_t n = FLAG_KEYS[k].len;
        if (len - i < n || memcmp(p + i, FLAG_KEYS[k].text, n) != 0) return false;
        i += n;
        if (len - i >= 4 && memcmp(p + i, "true", 4) == 0) {
            flags |= 1u << k;
            i += 4;
        } else if (len - i >= 5 && memcmp(p + i, "false", 5) == 0) {
            i += 5;
        } else {
            return false;
        }
    }
    if (i + 1 != len || p[i] != '}') return false;
    *token_out = token;
    *flags_out = flags;
    return true;
}

/* Copies src into dst (size > 0), cut at a UTF-8 character boundary. */
static void copy_text(char *dst, size_t size, const char *src) {
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

static bool unsigned_field(json_object *obj, const char *key, uint64_t *out) {
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int)) return false;
    if (json_object_get_int64(v) < 0) return false;
    *out = json_object_get_uint64(v);
    return true;
}

static void parse_event(json_object *obj, const char *name, struct mioc_parsed_line *out) {
    if (strcmp(name, "shutdown") == 0) {
        out->kind = MIOC_LINE_SHUTDOWN;
    } else if (strcmp(name, "session_taken") == 0) {
        out->kind = MIOC_LINE_SESSION_TAKEN;
    } else if (strcmp(name, "ready") != 0) {
        out->kind = MIOC_LINE_OTHER_EVENT;
    } else if (unsigned_field(obj, "token", &out->token)) {
        out->kind = MIOC_LINE_EVENT;
        out->flags = 0;
        for (int k = 0; k < 6; k++) {
            json_object *v;
            if (json_object_object_get_ex(obj, FLAG_NAMES[k], &v) && json_object_is_type(v, json_type_boolean) &&
                json_object_get_boolean(v))
                out->flags |= 1u << k;
        }
    }
}

static void parse_reply(json_object *obj, json_object *ok, struct mioc_parsed_line *out) {
    out->kind = MIOC_LINE_REPLY;
    out->ok = json_object_is_type(ok, json_type_boolean) && json_object_get_boolean(ok);
    json_object *v;
    out->has_any_id = json_object_object_get_ex(obj, "id", &v);
    out->has_id = unsigned_field(obj, "id", &out->id);
    if (out->ok) {
        out->has_ring_entries = unsigned_field(obj, "ring_entries", &out->ring_entries);
        out->has_ring_head = unsigned_field(obj, "ring_head", &out->ring_head);
        return;
    }
    json_object *error, *code, *message;
    const char *code_text = "internal", *message_text = "the daemon's error reply had no message";
    if (json_object_object_get_ex(obj, "error", &error) && json_object_is_type(error, json_type_object)) {
        if (json_object_object_get_ex(error, "code", &code) && json_object_is_type(code, json_type_string))
            code_text = json_object_get_string(code);
        if (json_object_object_get_ex(error, "message", &message) && json_object_is_type(message, json_type_string))
            message_text = json_object_get_string(message);
    }
    copy_text(out->code, sizeof out->code, code_text);
    copy_text(out->message_buf, sizeof out->message_buf, message_text);
    out->message = out->message_buf;
}

void mioc_parse_line(struct json_tokener *tok, const char *text, size_t len, struct mioc_parsed_line *out) {
    out->kind = MIOC_LINE_BAD;
    out->has_id = out->has_any_id = false;
    out->has_ring_entries = out->has_ring_head = false;
    out->ok = false;
    out->code[0] = 0;
    out->message = NULL;
    if (mioc_fast_event_line(text, len, &out->token, &out->flags)) {
        out->kind = MIOC_LINE_EVENT;
        return;
    }
    if (len > MIOC_MAX_LINE) return;
    json_tokener_reset(tok);
    json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    if (!obj) return;
    size_t end = json_tokener_get_parse_end(tok);
    while (end < len && (text[end] == ' ' || text[end] == '\t' || text[end] == '\r')) end++;
    json_object *v;
    if (end != len || !json_object_is_type(obj, json_type_object)) {
        // not one JSON object: MIOC_LINE_BAD
    } else if (json_object_object_get_ex(obj, "event", &v)) {
        if (json_object_is_type(v, json_type_string)) parse_event(obj, json_object_get_string(v), out);
    } else if (json_object_object_get_ex(obj, "ok", &v)) {
        parse_reply(obj, v, out);
    }
    json_object_put(obj);
}
