/* Encoding of outgoing events per the CloudEvents 1.0 HTTP protocol binding.
 *
 * Binary mode puts every context attribute except datacontenttype into a ce-<name> header and
 * the data bytes into the body; datacontenttype becomes Content-Type. Structured mode sends the
 * JSON event format as the body. All strings live in one allocation owned by the message. */
#include "http/cloudevents_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRUCTURED_CONTENT_TYPE "application/cloudevents+json; charset=utf-8"

/* Spec 3.1.3.2: space, double-quote, percent and every byte outside printable ASCII
 * (U+0021-U+007E) are percent-encoded, byte by byte of the UTF-8 form. */
static bool needs_percent_encoding(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '"' || c == '%';
}

static size_t encoded_length(const char *value)
{
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        len += needs_percent_encoding(*p) ? 3 : 1;
    return len;
}

static char *write_encoded(char *out, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (needs_percent_encoding(*p)) {
            *out++ = '%';
            *out++ = hex[*p >> 4];
            *out++ = hex[*p & 0x0f];
        } else {
            *out++ = (char)*p;
        }
    }
    *out++ = '\0';
    return out;
}

/* Copies value with its NUL; returns where the next string goes. */
static char *write_plain(char *out, const char *prefix, const char *value)
{
    size_t prefix_len = strlen(prefix), len = strlen(value);
    memcpy(out, prefix, prefix_len);
    memcpy(out + prefix_len, value, len + 1);
    return out + prefix_len + len + 1;
}

typedef struct header_source {
    const char *name; /* attribute name, or the full header name when raw */
    const char *value;
    bool raw; /* Content-Type: neither prefixed nor percent-encoded */
} header_source;

/* Collects the headers of binary mode. Returns the count; sources has room for all. */
static size_t binary_header_sources(const event *ev, header_source *sources)
{
    size_t n = 0;
    const char *names[] = {"specversion", "id", "source", "type", "subject", "time", "dataschema"};
    const char *values[] = {ev->specversion, ev->id,   ev->source,    ev->type,
                            ev->subject,     ev->time, ev->dataschema};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (values[i])
            sources[n++] = (header_source){names[i], values[i], false};
    for (size_t i = 0; i < ev->extension_count; i++)
        if (ev->extensions[i].value)
            sources[n++] = (header_source){ev->extensions[i].name, ev->extensions[i].value, false};
    const char *content_type = ev->datacontenttype;
    if (!content_type && ev->data_json)
        content_type = "application/json";
    if (content_type)
        sources[n++] = (header_source){"Content-Type", content_type, true};
    return n;
}

static int encode_binary(const event *ev, cloudevents_http_message *message)
{
    /* The usual event (a few extensions) needs no heap for its header list. */
    header_source stack_sources[16];
    size_t most = 8 + ev->extension_count;
    header_source *sources = most <= sizeof stack_sources / sizeof stack_sources[0]
                                 ? stack_sources
                                 : calloc(most, sizeof *sources);
    if (!sources)
        return -1;
    size_t count = binary_header_sources(ev, sources);

    size_t storage_len = ev->data_len + 1;
    for (size_t i = 0; i < count; i++) {
        if (sources[i].raw)
            storage_len += strlen(sources[i].name) + strlen(sources[i].value) + 2;
        else
            storage_len += 3 + strlen(sources[i].name) + 1 + encoded_length(sources[i].value) + 1;
    }
    message->headers = calloc(count ? count : 1, sizeof *message->headers);
    message->storage_ = malloc(storage_len);
    if (!message->headers || !message->storage_) {
        if (sources != stack_sources)
            free(sources);
        cloudevents_http_message_free(message);
        return -1;
    }

    char *out = message->storage_;
    for (size_t i = 0; i < count; i++) {
        http_header *h = &message->headers[i];
        h->name = out;
        if (sources[i].raw) {
            out = write_plain(out, "", sources[i].name);
            h->value = out;
            out = write_plain(out, "", sources[i].value);
        } else {
            out = write_plain(out, "ce-", sources[i].name);
            h->value = out;
            out = write_encoded(out, sources[i].value);
        }
    }
    message->header_count = count;
    message->body = out;
    if (ev->data_len)
        memcpy(out, ev->data, ev->data_len);
    out[ev->data_len] = '\0';
    message->body_len = ev->data_len;
    if (sources != stack_sources)
        free(sources);
    return 0;
}

static int encode_structured(const event *ev, cloudevents_http_message *message)
{
    cJSON *json = event_to_json(ev);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text)
        return -1;
    size_t body_len = strlen(text);
    static const char name[] = "Content-Type";
    message->headers = calloc(1, sizeof *message->headers);
    message->storage_ = malloc(sizeof name + sizeof STRUCTURED_CONTENT_TYPE + body_len + 1);
    if (!message->headers || !message->storage_) {
        cJSON_free(text);
        cloudevents_http_message_free(message);
        return -1;
    }
    char *out = message->storage_;
    memcpy(out, name, sizeof name);
    message->headers[0].name = out;
    out += sizeof name;
    memcpy(out, STRUCTURED_CONTENT_TYPE, sizeof STRUCTURED_CONTENT_TYPE);
    message->headers[0].value = out;
    out += sizeof STRUCTURED_CONTENT_TYPE;
    memcpy(out, text, body_len + 1);
    cJSON_free(text);
    message->header_count = 1;
    message->body = out;
    message->body_len = body_len;
    return 0;
}

int cloudevents_http_encode(const event *ev, bool structured, cloudevents_http_message *message)
{
    memset(message, 0, sizeof *message);
    return structured ? encode_structured(ev, message) : encode_binary(ev, message);
}

void cloudevents_http_message_free(cloudevents_http_message *message)
{
    if (!message)
        return;
    free(message->headers);
    free(message->storage_);
    memset(message, 0, sizeof *message);
}
