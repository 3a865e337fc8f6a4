/* Decoding side of the CloudEvents 1.0 HTTP protocol binding. The content mode is chosen the way
 * the spec says: the media type application/cloudevents(-batch)+json selects structured (or
 * batched) mode; otherwise a ce-specversion header marks binary mode. */
#include "http/cloudevents_http.h"
#include "http/json_strict.h"
#include "utf8.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Compares the media type of a Content-Type value (without parameters) to want. */
static bool media_type_is(const char *content_type, const char *want)
{
    if (!content_type)
        return false;
    while (isspace((unsigned char)*content_type))
        content_type++;
    size_t len = strcspn(content_type, ";");
    while (len > 0 && isspace((unsigned char)content_type[len - 1]))
        len--;
    return len == strlen(want) && strncasecmp(content_type, want, len) == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Binary-mode header values are percent-encoded (spec 3.1.3.2). Decodes into out, which has room
 * for strlen(value) + 1 bytes (decoding never grows a value). Returns false when a '%' is not
 * followed by two hex digits or the result would contain a NUL. */
static bool percent_decode(const char *value, char *out)
{
    size_t n = 0;
    for (size_t i = 0; value[i]; i++) {
        if (value[i] != '%') {
            out[n++] = value[i];
            continue;
        }
        int hi = hex_value(value[i + 1]); /* a NUL terminator is not hex, so no overrun */
        int lo = hi >= 0 ? hex_value(value[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        out[n++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[n] = '\0';
    return true;
}

/* Parses a body that must be exactly one strict JSON text (json_strict.h): cJSON alone would take
 * NUL or control bytes as whitespace and leading zeros. On failure why says what and where. */
static bool json_parse_exact(const char *text, size_t len, cJSON **out, char *why, size_t why_cap)
{
    if (!json_strict_check(text, len, why, why_cap))
        return false;
    *out = cJSON_ParseWithLength(text, len);
    if (!*out) {
        /* Strict JSON that cJSON cannot build: a lone UTF-16 surrogate escape, or no memory. */
        snprintf(why, why_cap, "cannot be decoded (a lone \\uD800-\\uDFFF escape?)");
        return false;
    }
    return true;
}

/* A CloudEvents attribute given twice is ambiguous (which one did the sender mean?): refused,
 * where a lenient reading would let the last one win. Content-Type is data's type: the same. */
static const char *duplicate_header(const http_request *request)
{
    for (size_t i = 0; i < request->header_count; i++) {
        const char *name = request->header_names[i];
        if (strncasecmp(name, "ce-", 3) != 0 && strcasecmp(name, "content-type") != 0)
            continue;
        for (size_t k = 0; k < i; k++)
            if (strcasecmp(request->header_names[k], name) == 0)
                return name;
    }
    return NULL;
}

static int return_one(event *ev, event ***events, size_t *count, char *reason, size_t reason_cap)
{
    *events = malloc(sizeof **events);
    if (!*events) {
        snprintf(reason, reason_cap, "out of memory");
        event_unref(ev);
        return -1;
    }
    (*events)[0] = ev;
    *count = 1;
    return 0;
}

static int decode_binary(const http_request *request, event ***events, size_t *count, char *reason,
                         size_t reason_cap)
{
    event *ev = event_new();
    if (!ev) {
        snprintf(reason, reason_cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < request->header_count; i++) {
        const char *name = request->header_names[i];
        if (strncasecmp(name, "ce-", 3) != 0)
            continue;
        /* Names and values are usually short: both on the stack, the heap only for long ones.
         * A long name is no reason to refuse: structured mode accepts it, and an event accepted
         * there is forwarded in binary mode (the default) to a receiver like this one. */
        size_t name_len = strlen(name + 3);
        char small_attribute[64];
        char *attribute =
            name_len < sizeof small_attribute ? small_attribute : malloc(name_len + 1);
        const char *encoded = request->header_values[i];
        size_t encoded_len = strlen(encoded);
        char small[256];
        char *value = encoded_len < sizeof small ? small : malloc(encoded_len + 1);
        if (!attribute || !value) {
            if (attribute != small_attribute)
                free(attribute);
            if (value != small)
                free(value);
            snprintf(reason, reason_cap, "header '%.40s': out of memory", name);
            goto invalid;
        }
        for (size_t k = 0; k <= name_len; k++)
            attribute[k] = (char)tolower((unsigned char)name[3 + k]);
        bool decoded = percent_decode(encoded, value);
        /* An attribute is a Unicode string, percent-encoded UTF-8 in a header (spec 3.1.3.2):
         * other bytes are refused here, where the sender hears why, not later by a strict
         * receiver. */
        bool unicode = decoded && utf8_valid(value, strlen(value));
        bool ok = unicode && event_set_attribute(ev, attribute, value);
        if (value != small)
            free(value);
        if (!decoded)
            snprintf(reason, reason_cap, "header '%.40s': invalid percent-encoding", name);
        else if (!unicode)
            snprintf(reason, reason_cap,
                     "header '%.40s': the value is not valid UTF-8 (a CloudEvents attribute is "
                     "a Unicode string)",
                     name);
        else if (!ok)
            snprintf(reason, reason_cap,
                     "header '%.40s': '%.40s' is not a valid attribute name (only a-z and 0-9)",
                     name, attribute);
        if (attribute != small_attribute)
            free(attribute);
        if (!ok)
            goto invalid;
    }
    const char *content_type = http_request_header(request, "content-type");
    if (content_type && !utf8_valid(content_type, strlen(content_type))) {
        snprintf(reason, reason_cap, "header 'Content-Type': the value is not valid UTF-8");
        goto invalid;
    }
    if (content_type && *content_type)
        event_set_attribute(ev, "datacontenttype", content_type);
    else /* a ce-datacontenttype header (not the binding's way, but sent) declares it then */
        content_type = ev->datacontenttype;
    if (request->body_len > 0) {
        bool declared_json =
            content_type && *content_type && event_content_type_is_json(content_type);
        char why[160];
        if (declared_json) {
            if (!json_strict_check(request->body, request->body_len, why, sizeof why)) {
                snprintf(reason, reason_cap,
                         "data is not valid JSON (RFC 8259) %s (datacontenttype '%.60s')", why,
                         content_type);
                goto invalid;
            }
            if (!event_set_data(ev, request->body, request->body_len, true)) {
                snprintf(reason, reason_cap, "out of memory");
                goto invalid;
            }
        } else if (!content_type || !*content_type) {
            /* No declared type: keep JSON parsed when it is strict JSON, the bytes either way. */
            if (!json_strict_check(request->body, request->body_len, why, sizeof why) ||
                !event_set_data(ev, request->body, request->body_len, true))
                event_set_data(ev, request->body, request->body_len, false);
        } else {
            event_set_data(ev, request->body, request->body_len, false);
        }
    }
    if (!event_validate(ev, reason, reason_cap))
        goto invalid;
    return return_one(ev, events, count, reason, reason_cap);

invalid:
    event_unref(ev);
    return -1;
}

/* True when the JSON text escapes a NUL (\u0000) in a string. cJSON would decode it into a C
 * string that ends there: two ids differing after it would arrive as the same id. Such an event
 * is refused rather than cut. */
static bool json_escapes_nul(const char *text, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character: an escaped backslash before "u0000" is not one */
    }
    return false;
}

static bool refuse_nul_escape(const http_request *request, char *reason, size_t reason_cap)
{
    if (!json_escapes_nul(request->body, request->body_len))
        return false;
    snprintf(reason, reason_cap, "a JSON string contains \\u0000 (NUL), which cannot be kept");
    return true;
}

static int decode_structured(const http_request *request, event ***events, size_t *count,
                             char *reason, size_t reason_cap)
{
    cJSON *json = NULL;
    if (refuse_nul_escape(request, reason, reason_cap))
        return -1;
    char why[160];
    if (!json_parse_exact(request->body, request->body_len, &json, why, sizeof why)) {
        snprintf(reason, reason_cap, "structured event body is not valid JSON (RFC 8259) %s", why);
        return -1;
    }
    event *ev = event_from_json(json, reason, reason_cap);
    cJSON_Delete(json);
    if (!ev)
        return -1;
    return return_one(ev, events, count, reason, reason_cap);
}

static int decode_batch(const http_request *request, event ***events, size_t *count, char *reason,
                        size_t reason_cap)
{
    cJSON *json = NULL;
    if (refuse_nul_escape(request, reason, reason_cap))
        return -1;
    char why[160];
    if (!json_parse_exact(request->body, request->body_len, &json, why, sizeof why)) {
        snprintf(reason, reason_cap, "batch body is not valid JSON (RFC 8259) %s", why);
        return -1;
    }
    if (!cJSON_IsArray(json)) {
        snprintf(reason, reason_cap, "a batch must be a JSON array of events");
        cJSON_Delete(json);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(json);
    /* At least one slot, so an empty batch still hands back an array the caller can free. */
    event **list = calloc(n ? n : 1, sizeof *list);
    if (!list) {
        snprintf(reason, reason_cap, "out of memory");
        cJSON_Delete(json);
        return -1;
    }
    size_t index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, json)
    {
        char inner[200];
        list[index] = event_from_json(item, inner, sizeof inner);
        if (!list[index]) {
            snprintf(reason, reason_cap, "event [%zu]: %s", index, inner);
            for (size_t k = 0; k < index; k++)
                event_unref(list[k]);
            free(list);
            cJSON_Delete(json);
            return -1;
        }
        index++;
    }
    cJSON_Delete(json);
    *events = list;
    *count = n;
    return 0;
}

int cloudevents_http_decode(const http_request *request, event ***events, size_t *count,
                            char *reason, size_t reason_cap)
{
    *events = NULL;
    *count = 0;
    const char *twice = duplicate_header(request);
    if (twice) {
        snprintf(reason, reason_cap, "header '%.60s' is given more than once", twice);
        return -1;
    }
    const char *content_type = http_request_header(request, "content-type");
    if (media_type_is(content_type, "application/cloudevents+json"))
        return decode_structured(request, events, count, reason, reason_cap);
    if (media_type_is(content_type, "application/cloudevents-batch+json"))
        return decode_batch(request, events, count, reason, reason_cap);
    if (content_type && strncasecmp(content_type, "application/cloudevents", 23) == 0) {
        snprintf(reason, reason_cap, "unsupported event format '%.60s' (only JSON is supported)",
                 content_type);
        return -1;
    }
    if (http_request_header(request, "ce-specversion"))
        return decode_binary(request, events, count, reason, reason_cap);
    snprintf(reason, reason_cap,
             "not a CloudEvent: no ce-specversion header and content type '%.60s' is not "
             "application/cloudevents+json",
             content_type ? content_type : "");
    return -1;
}
