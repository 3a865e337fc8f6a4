#include "event.h"

#include "utf8.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

event *event_new(void)
{
    event *ev = calloc(1, sizeof *ev);
    if (ev)
        ev->refcount = 1;
    return ev;
}

event *event_ref(event *ev)
{
    ev->refcount++;
    return ev;
}

static void event_clear_data(event *ev)
{
    free(ev->data);
    cJSON_Delete(ev->data_json);
    ev->data = NULL;
    ev->data_len = 0;
    ev->data_json = NULL;
}

void event_unref(event *ev)
{
    if (!ev || --ev->refcount > 0)
        return;
    free(ev->specversion);
    free(ev->id);
    free(ev->source);
    free(ev->type);
    free(ev->subject);
    free(ev->time);
    free(ev->datacontenttype);
    free(ev->dataschema);
    for (size_t i = 0; i < ev->extension_count; i++) {
        free(ev->extensions[i].name);
        free(ev->extensions[i].value);
    }
    free(ev->extensions);
    event_clear_data(ev);
    free(ev->ordering_key);
    free(ev);
}

/* The spec: attribute names consist of lower-case letters a-z and digits 0-9. */
static bool attribute_name_is_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static char **context_attribute_slot(event *ev, const char *name)
{
    static const struct {
        const char *name;
        size_t offset;
    } slots[] = {
        {"specversion", offsetof(event, specversion)},
        {"id", offsetof(event, id)},
        {"source", offsetof(event, source)},
        {"type", offsetof(event, type)},
        {"subject", offsetof(event, subject)},
        {"time", offsetof(event, time)},
        {"datacontenttype", offsetof(event, datacontenttype)},
        {"dataschema", offsetof(event, dataschema)},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if (strcmp(name, slots[i].name) == 0)
            return (char **)((char *)ev + slots[i].offset);
    return NULL;
}

static bool replace_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return false;
    free(*slot);
    *slot = copy;
    return true;
}

static bool set_extension(event *ev, const char *name, const char *value)
{
    for (size_t i = 0; i < ev->extension_count; i++) {
        if (strcmp(ev->extensions[i].name, name) != 0)
            continue;
        if (value)
            return replace_string(&ev->extensions[i].value, value);
        free(ev->extensions[i].name);
        free(ev->extensions[i].value);
        ev->extensions[i] = ev->extensions[--ev->extension_count];
        return true;
    }
    if (!value)
        return true;
    event_extension *grown =
        realloc(ev->extensions, (ev->extension_count + 1) * sizeof *ev->extensions);
    if (!grown)
        return false;
    ev->extensions = grown;
    event_extension *slot = &ev->extensions[ev->extension_count];
    slot->name = strdup(name);
    slot->value = strdup(value);
    if (!slot->name || !slot->value) {
        free(slot->name);
        free(slot->value);
        return false;
    }
    ev->extension_count++;
    return true;
}

bool event_set_attribute(event *ev, const char *name, const char *value)
{
    if (!attribute_name_is_valid(name) || strcmp(name, "data") == 0 ||
        strcmp(name, "data_base64") == 0)
        return false;
    char **slot = context_attribute_slot(ev, name);
    if (slot)
        return replace_string(slot, value);
    return set_extension(ev, name, value);
}

const char *event_get_attribute(const event *ev, const char *name)
{
    char **slot = context_attribute_slot((event *)ev, name);
    if (slot)
        return *slot;
    for (size_t i = 0; i < ev->extension_count; i++)
        if (strcmp(ev->extensions[i].name, name) == 0)
            return ev->extensions[i].value;
    return NULL;
}

bool event_content_type_is_json(const char *content_type)
{
    if (!content_type || !*content_type)
        return true;
    size_t len = strcspn(content_type, ";");
    while (len > 0 && isspace((unsigned char)content_type[len - 1]))
        len--;
    if ((len == 16 && strncasecmp(content_type, "application/json", 16) == 0) ||
        (len == 9 && strncasecmp(content_type, "text/json", 9) == 0))
        return true;
    return len > 5 && strncasecmp(content_type + len - 5, "+json", 5) == 0;
}

bool event_set_data(event *ev, const void *bytes, size_t len, bool is_json)
{
    cJSON *parsed = NULL;
    if (is_json && len > 0) {
        const char *end = NULL;
        parsed = cJSON_ParseWithLengthOpts(bytes, len, &end, false);
        if (!parsed)
            return false;
        /* Trailing whitespace is fine; anything else after the value is not JSON. */
        while (end < (const char *)bytes + len && isspace((unsigned char)*end))
            end++;
        if (end != (const char *)bytes + len) {
            cJSON_Delete(parsed);
            return false;
        }
    }
    unsigned char *copy = NULL;
    if (len > 0) {
        copy = malloc(len + 1);
        if (!copy) {
            cJSON_Delete(parsed);
            return false;
        }
        memcpy(copy, bytes, len);
        copy[len] = '\0'; /* convenient for text data; not counted in data_len */
    }
    event_clear_data(ev);
    ev->data = copy;
    ev->data_len = len;
    ev->data_json = parsed;
    return true;
}

void event_set_data_json(event *ev, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    event_clear_data(ev);
    if (!json)
        return;
    ev->data = (unsigned char *)text;
    ev->data_len = text ? strlen(text) : 0;
    ev->data_json = json;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool is_rfc3339(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i])
                            : (shape[i] == 'T' ? (s[i] != 'T' && s[i] != 't') : s[i] != shape[i]))
            return false;
    }
    const char *p = s + strlen(shape);
    int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    int hour = (s[11] - '0') * 10 + (s[12] - '0'), minute = (s[14] - '0') * 10 + (s[15] - '0');
    int second = (s[17] - '0') * 10 + (s[18] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p == '+' || *p == '-')
        return isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) && p[3] == ':' &&
               isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '\0';
    return false;
}

bool event_time_is_rfc3339(const char *text)
{
    return text && is_rfc3339(text);
}

bool event_validate(const event *ev, char *reason, size_t reason_cap)
{
    static const char *const required[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < 4; i++) {
        const char *value = event_get_attribute(ev, required[i]);
        if (!value || !*value) {
            snprintf(reason, reason_cap, "required attribute '%s' is missing or empty",
                     required[i]);
            return false;
        }
    }
    if (strcmp(ev->specversion, "1.0") != 0) {
        snprintf(reason, reason_cap, "specversion '%.40s' is not supported (want 1.0)",
                 ev->specversion);
        return false;
    }
    if (ev->subject && !*ev->subject) {
        snprintf(reason, reason_cap, "attribute 'subject' must not be empty when present");
        return false;
    }
    if (ev->time && !is_rfc3339(ev->time)) {
        snprintf(reason, reason_cap, "attribute 'time' is not an RFC 3339 timestamp: '%.60s'",
                 ev->time);
        return false;
    }
    if (ev->datacontenttype && !*ev->datacontenttype) {
        snprintf(reason, reason_cap, "attribute 'datacontenttype' must not be empty when present");
        return false;
    }
    if (ev->dataschema && !*ev->dataschema) {
        snprintf(reason, reason_cap, "attribute 'dataschema' must not be empty when present");
        return false;
    }
    for (size_t i = 0; i < ev->extension_count; i++) {
        if (!attribute_name_is_valid(ev->extensions[i].name)) {
            snprintf(reason, reason_cap,
                     "extension name '%.40s' is invalid (only a-z and 0-9 are allowed)",
                     ev->extensions[i].name);
            return false;
        }
    }
    return true;
}

const char *event_ordering_key(const event *ev)
{
    if (ev->ordering_key)
        return ev->ordering_key[0] ? ev->ordering_key : NULL;
    return ev->subject;
}

/* Text data travels as a "data" string in structured mode; a JSON string must be UTF-8 (without
 * NUL, which a C string cannot keep), so any other bytes, even under a text type, are opaque and
 * travel as "data_base64". */
static bool data_is_text(const event *ev)
{
    const char *ct = ev->datacontenttype;
    if (!ct || (strncasecmp(ct, "text/", 5) != 0 && !strstr(ct, "xml")))
        return false;
    return memchr(ev->data, '\0', ev->data_len) == NULL &&
           utf8_valid((const char *)ev->data, ev->data_len);
}

cJSON *event_to_json(const event *ev)
{
    cJSON *object = cJSON_CreateObject();
    if (!object)
        return NULL;
    static const char *const names[] = {"specversion", "id",   "source",          "type",
                                        "subject",     "time", "datacontenttype", "dataschema"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *value = event_get_attribute(ev, names[i]);
        if (value)
            cJSON_AddStringToObject(object, names[i], value);
    }
    for (size_t i = 0; i < ev->extension_count; i++)
        cJSON_AddStringToObject(object, ev->extensions[i].name, ev->extensions[i].value);
    if (ev->data_json) {
        cJSON_AddItemToObject(object, "data", cJSON_Duplicate(ev->data_json, true));
    } else if (ev->data_len > 0 && data_is_text(ev)) {
        cJSON_AddStringToObject(object, "data", (const char *)ev->data);
    } else if (ev->data_len > 0) {
        size_t encoded_cap = 4 * ((ev->data_len + 2) / 3) + 1;
        unsigned char *encoded = malloc(encoded_cap);
        if (encoded) {
            EVP_EncodeBlock(encoded, ev->data, (int)ev->data_len);
            cJSON_AddStringToObject(object, "data_base64", (const char *)encoded);
            free(encoded);
        }
    }
    return object;
}

static bool decode_base64(const char *text, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(text);
    if (len % 4 != 0)
        return false;
    unsigned char *buffer = malloc(len / 4 * 3 + 1);
    if (!buffer)
        return false;
    int n = EVP_DecodeBlock(buffer, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(buffer);
        return false;
    }
    /* EVP_DecodeBlock counts padding as data; take it back off. */
    if (len >= 1 && text[len - 1] == '=')
        n--;
    if (len >= 2 && text[len - 2] == '=')
        n--;
    *out = buffer;
    *out_len = (size_t)n;
    return true;
}

event *event_from_json(const cJSON *object, char *reason, size_t reason_cap)
{
    if (!cJSON_IsObject(object)) {
        snprintf(reason, reason_cap, "a structured event must be a JSON object");
        return NULL;
    }
    event *ev = event_new();
    if (!ev) {
        snprintf(reason, reason_cap, "out of memory");
        return NULL;
    }
    const cJSON *data = NULL, *data_base64 = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, object)
    {
        const char *name = item->string;
        if (strcmp(name, "data") == 0) {
            data = item;
            continue;
        }
        if (strcmp(name, "data_base64") == 0) {
            data_base64 = item;
            continue;
        }
        char number[64];
        const char *value = NULL;
        if (cJSON_IsString(item)) {
            value = item->valuestring;
        } else if (cJSON_IsBool(item) && !context_attribute_slot(ev, name)) {
            value = cJSON_IsTrue(item) ? "true" : "false";
        } else if (cJSON_IsNumber(item) && !context_attribute_slot(ev, name)) {
            snprintf(number, sizeof number, "%.17g", item->valuedouble);
            value = number;
        } else if (cJSON_IsNull(item)) {
            continue; /* the spec: a null attribute is the same as an absent one */
        } else {
            snprintf(reason, reason_cap, "attribute '%.40s' has a value of the wrong JSON type",
                     name);
            event_unref(ev);
            return NULL;
        }
        if (!event_set_attribute(ev, name, value)) {
            snprintf(reason, reason_cap,
                     "attribute name '%.40s' is invalid (only a-z and 0-9 are allowed)", name);
            event_unref(ev);
            return NULL;
        }
    }
    if (data && data_base64) {
        snprintf(reason, reason_cap, "'data' and 'data_base64' must not both be present");
        event_unref(ev);
        return NULL;
    }
    if (data_base64 && !cJSON_IsNull(data_base64)) {
        unsigned char *bytes = NULL;
        size_t len = 0;
        if (!cJSON_IsString(data_base64) ||
            !decode_base64(data_base64->valuestring, &bytes, &len)) {
            snprintf(reason, reason_cap, "'data_base64' is not valid base64");
            event_unref(ev);
            return NULL;
        }
        /* Bytes declared JSON must be JSON: forwarded in binary mode they become a body with
         * that Content-Type, which a receiver (this router's webhook among them) refuses. */
        bool declared_json = ev->datacontenttype && *ev->datacontenttype &&
                             event_content_type_is_json(ev->datacontenttype);
        bool stored = event_set_data(ev, bytes, len, declared_json);
        free(bytes);
        if (!stored) {
            snprintf(reason, reason_cap,
                     "'data_base64' is not JSON although datacontenttype is '%.60s'",
                     ev->datacontenttype);
            event_unref(ev);
            return NULL;
        }
    } else if (data && !cJSON_IsNull(data)) {
        if (cJSON_IsString(data) && !event_content_type_is_json(ev->datacontenttype))
            event_set_data(ev, data->valuestring, strlen(data->valuestring), false);
        else
            event_set_data_json(ev, cJSON_Duplicate(data, true));
    }
    if (!event_validate(ev, reason, reason_cap)) {
        event_unref(ev);
        return NULL;
    }
    return ev;
}

static size_t json_tree_bytes(const cJSON *item)
{
    size_t bytes = 0;
    for (; item; item = item->next) {
        bytes += sizeof *item;
        if (item->string)
            bytes += strlen(item->string) + 1;
        if (item->valuestring)
            bytes += strlen(item->valuestring) + 1;
        if (item->child)
            bytes += json_tree_bytes(item->child);
    }
    return bytes;
}

static size_t string_bytes(const char *text)
{
    return text ? strlen(text) + 1 : 0;
}

size_t event_memory_bytes(event *ev)
{
    if (ev->memory_bytes)
        return ev->memory_bytes;
    size_t bytes = sizeof *ev + ev->data_len + string_bytes(ev->specversion) +
                   string_bytes(ev->id) + string_bytes(ev->source) + string_bytes(ev->type) +
                   string_bytes(ev->subject) + string_bytes(ev->time) +
                   string_bytes(ev->datacontenttype) + string_bytes(ev->dataschema) +
                   string_bytes(ev->ordering_key);
    for (size_t i = 0; i < ev->extension_count; i++)
        bytes += sizeof ev->extensions[i] + string_bytes(ev->extensions[i].name) +
                 string_bytes(ev->extensions[i].value);
    if (ev->data_json)
        bytes += json_tree_bytes(ev->data_json);
    ev->memory_bytes = bytes;
    return bytes;
}
