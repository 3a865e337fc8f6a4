#include "sources/vcenter/vcenter_convert.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/vcenter/vsphere_types.h"
#include "json_integer.h"

/* The XML -> JSON half: walks an element against the generated type table and produces what
 * encoding/json writes for the govmomi value the same XML decodes into. Every field appears
 * (govmomi's types carry no json omitempty); absent slices, pointers and interfaces are null,
 * absent plain values are Go's zero values. */

#define XSI_NAMESPACE "http://www.w3.org/2001/XMLSchema-instance"
#define ZERO_TIME "0001-01-01T00:00:00Z"
/* Largest integer a double holds exactly: beyond it numbers are written verbatim (raw). */
/* Nesting guard against hostile input; real events nest a handful of levels. */
#define MAX_DEPTH 64

static _Thread_local char last_class[256];

static cJSON *convert_struct(vcenter_convert_context *ctx, xmlNodePtr node,
                             const vsphere_type *type, int depth);
static cJSON *convert_generic(vcenter_convert_context *ctx, xmlNodePtr node, int depth);
static cJSON *convert_with_base(vcenter_convert_context *ctx, xmlNodePtr node,
                                const vsphere_type *base, int depth);

static bool is_element(xmlNodePtr n)
{
    return n && n->type == XML_ELEMENT_NODE;
}

/* The xsi:type value without its prefix, whatever prefix the document bound to the XSI
 * namespace. Caller frees with xmlFree; NULL when absent. */
static xmlChar *xsi_type(xmlNodePtr node)
{
    xmlChar *value = xmlGetNsProp(node, BAD_CAST "type", BAD_CAST XSI_NAMESPACE);
    if (!value)
        return NULL;
    xmlChar *colon = (xmlChar *)strchr((char *)value, ':');
    if (colon)
        memmove(value, colon + 1, strlen((char *)colon + 1) + 1);
    return value;
}

/* Text content with surrounding whitespace removed (Go trims for numbers and booleans; for
 * strings we keep the content as is). Caller frees. */
static char *node_text(xmlNodePtr node)
{
    xmlChar *text = xmlNodeGetContent(node);
    char *copy = strdup(text ? (char *)text : "");
    xmlFree(text);
    return copy;
}

static char *trimmed(char *s)
{
    if (!s)
        return NULL;
    char *start = s;
    while (isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    memmove(s, start, len);
    s[len] = '\0';
    return s;
}

static cJSON *json_integer(const char *text)
{
    errno = 0;
    char *end = NULL;
    bool negative = text[0] == '-';
    long long sv = 0;
    unsigned long long uv = 0;
    if (!*text)
        return cJSON_CreateNumber(0); /* Go decodes an empty element as 0 */
    if (negative)
        sv = strtoll(text, &end, 10);
    else
        uv = strtoull(text, &end, 10);
    if (errno || !end || *end)
        return cJSON_CreateString(text); /* not a number: keep what was sent */
    /* Every digit kept, as Go's encoding/json writes an int64 or uint64. */
    if (negative)
        return json_int64(sv);
    if (uv <= (unsigned long long)INT64_MAX)
        return json_int64((int64_t)uv);
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", uv);
    return cJSON_CreateRaw(digits);
}

static cJSON *json_float(const char *text)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!*text)
        return cJSON_CreateNumber(0);
    if (!end || *end)
        return cJSON_CreateString(text);
    return cJSON_CreateNumber(v);
}

static cJSON *json_bool(const char *text)
{
    /* strconv.ParseBool's spellings of true. */
    static const char *const truths[] = {"1", "t", "T", "true", "TRUE", "True"};
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++)
        if (strcmp(text, truths[i]) == 0)
            return cJSON_CreateTrue();
    return cJSON_CreateFalse();
}

/* time.Time round trip: RFC 3339 in, RFC3339Nano out. The fraction loses trailing zeros and a
 * zero offset becomes "Z"; any other offset is kept as written. */
static cJSON *json_time(const char *text)
{
    size_t len = strlen(text);
    if (len < 20 || (text[10] != 'T' && text[10] != 't'))
        return cJSON_CreateString(len ? text : ZERO_TIME);
    char out[64];
    size_t o = 0, i = 19;
    memcpy(out, text, 19);
    out[10] = 'T';
    o = 19;
    if (text[i] == '.' || text[i] == ',') {
        size_t start = ++i;
        while (isdigit((unsigned char)text[i]))
            i++;
        size_t digits = i - start;
        if (digits > 9)
            digits = 9;
        while (digits > 0 && text[start + digits - 1] == '0')
            digits--;
        if (digits > 0) {
            out[o++] = '.';
            memcpy(out + o, text + start, digits);
            o += digits;
        }
    }
    const char *zone = text + i;
    if (strcmp(zone, "Z") == 0 || strcmp(zone, "z") == 0 || strcmp(zone, "+00:00") == 0 ||
        strcmp(zone, "-00:00") == 0)
        zone = "Z";
    if (o + strlen(zone) + 1 > sizeof out)
        return cJSON_CreateString(text);
    strcpy(out + o, zone);
    return cJSON_CreateString(out);
}

/* govmomi's decoder does not base64-decode xsd:base64Binary: the []byte holds the element's
 * characters, and encoding/json then base64-encodes those. Matching Go means encoding the text
 * once more. */
static cJSON *json_bytes(const char *text)
{
    size_t len = strlen(text);
    char *encoded = malloc(4 * ((len + 2) / 3) + 1);
    if (!encoded)
        return NULL;
    EVP_EncodeBlock((unsigned char *)encoded, (const unsigned char *)text, (int)len);
    cJSON *s = cJSON_CreateString(encoded);
    free(encoded);
    return s;
}

static cJSON *json_moref(xmlNodePtr node)
{
    cJSON *obj = cJSON_CreateObject();
    xmlChar *type = xmlGetNoNsProp(node, BAD_CAST "type");
    char *value = trimmed(node_text(node));
    cJSON_AddStringToObject(obj, "Type", type ? (char *)type : "");
    cJSON_AddStringToObject(obj, "Value", value ? value : "");
    xmlFree(type);
    free(value);
    return obj;
}

/* A simple value of a kind from its element's text. */
static cJSON *json_scalar(vsphere_kind kind, xmlNodePtr node)
{
    char *text = node_text(node);
    if (!text)
        return NULL;
    cJSON *out = NULL;
    switch (kind) {
    case VSPHERE_STRING:
        out = cJSON_CreateString(text);
        break;
    case VSPHERE_INT:
        out = json_integer(trimmed(text));
        break;
    case VSPHERE_FLOAT:
        out = json_float(trimmed(text));
        break;
    case VSPHERE_BOOL:
        out = json_bool(trimmed(text));
        break;
    case VSPHERE_TIME:
        out = json_time(trimmed(text));
        break;
    case VSPHERE_BYTES:
        out = json_bytes(text);
        break;
    default:
        break;
    }
    free(text);
    return out;
}

/* XML Schema's simple types, as govmomi's decoder maps an AnyType's xsi:type to a Go type. */
static bool xsd_kind(const char *xsd, vsphere_kind *kind)
{
    static const struct {
        const char *name;
        vsphere_kind kind;
    } map[] = {
        {"string", VSPHERE_STRING},      {"anyURI", VSPHERE_STRING},
        {"boolean", VSPHERE_BOOL},       {"byte", VSPHERE_INT},
        {"short", VSPHERE_INT},          {"int", VSPHERE_INT},
        {"long", VSPHERE_INT},           {"unsignedByte", VSPHERE_INT},
        {"unsignedShort", VSPHERE_INT},  {"unsignedInt", VSPHERE_INT},
        {"unsignedLong", VSPHERE_INT},   {"float", VSPHERE_FLOAT},
        {"double", VSPHERE_FLOAT},       {"dateTime", VSPHERE_TIME},
        {"base64Binary", VSPHERE_BYTES}, {"ManagedObjectReference", VSPHERE_MOREF},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(xsd, map[i].name) == 0) {
            *kind = map[i].kind;
            return true;
        }
    return false;
}

/* A value whose element says its own type: an AnyType, or a struct field holding a subclass.
 * fallback is the declared struct type (NULL for AnyType). */
static cJSON *convert_typed(vcenter_convert_context *ctx, xmlNodePtr node,
                            const vsphere_type *fallback, int depth)
{
    xmlChar *declared = xsi_type(node);
    cJSON *out;
    vsphere_kind kind;
    if (!declared) {
        if (fallback)
            out = convert_struct(ctx, node, fallback, depth);
        else if (node->children && is_element(xmlFirstElementChild(node)))
            out = convert_generic(ctx, node, depth);
        else
            out = json_scalar(VSPHERE_STRING, node);
    } else if (xsd_kind((char *)declared, &kind)) {
        out = kind == VSPHERE_MOREF ? json_moref(node) : json_scalar(kind, node);
    } else {
        const vsphere_type *type = vsphere_type_find((char *)declared);
        if (type) {
            out = convert_struct(ctx, node, type, depth);
        } else {
            ctx->unknown_classes++;
            out = fallback ? convert_with_base(ctx, node, fallback, depth)
                           : convert_generic(ctx, node, depth);
        }
    }
    xmlFree(declared);
    return out;
}

static cJSON *zero_struct(const vsphere_type *type, int depth);

static cJSON *zero_value(const vsphere_field *f, int depth)
{
    if (f->is_array || f->is_pointer)
        return cJSON_CreateNull();
    switch (f->kind) {
    case VSPHERE_STRING:
        return cJSON_CreateString("");
    case VSPHERE_INT:
    case VSPHERE_FLOAT:
        return cJSON_CreateNumber(0);
    case VSPHERE_BOOL:
        return cJSON_CreateFalse();
    case VSPHERE_TIME:
        return cJSON_CreateString(ZERO_TIME);
    case VSPHERE_MOREF: {
        cJSON *obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "Type", "");
        cJSON_AddStringToObject(obj, "Value", "");
        return obj;
    }
    case VSPHERE_STRUCT:
        return zero_struct(vsphere_type_find(f->struct_type), depth + 1);
    case VSPHERE_ANY:
    case VSPHERE_BYTES:
        return cJSON_CreateNull();
    }
    return cJSON_CreateNull();
}

static cJSON *zero_struct(const vsphere_type *type, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    if (!type || depth > MAX_DEPTH)
        return obj;
    for (unsigned i = 0; i < type->field_count; i++)
        cJSON_AddItemToObject(obj, type->fields[i].json_name, zero_value(&type->fields[i], depth));
    return obj;
}

static cJSON *convert_field_value(vcenter_convert_context *ctx, xmlNodePtr node,
                                  const vsphere_field *f, int depth)
{
    switch (f->kind) {
    case VSPHERE_MOREF:
        return json_moref(node);
    case VSPHERE_STRUCT:
        return convert_typed(ctx, node, vsphere_type_find(f->struct_type), depth + 1);
    case VSPHERE_ANY:
        return convert_typed(ctx, node, NULL, depth + 1);
    default:
        return json_scalar(f->kind, node);
    }
}

static bool named(xmlNodePtr node, const char *name)
{
    return is_element(node) && name && strcmp((const char *)node->name, name) == 0;
}

/* One field from the children of node: every matching element for a slice, the last one (as
 * Go's decoder overwrites) for a single value, the zero value when none. */
static cJSON *convert_field(vcenter_convert_context *ctx, xmlNodePtr node, const vsphere_field *f,
                            int depth)
{
    if (f->is_array) {
        cJSON *array = NULL;
        for (xmlNodePtr c = node->children; c; c = c->next) {
            if (!named(c, f->xml_name))
                continue;
            if (!array)
                array = cJSON_CreateArray();
            cJSON_AddItemToArray(array, convert_field_value(ctx, c, f, depth));
        }
        return array ? array : cJSON_CreateNull();
    }
    xmlNodePtr last = NULL;
    for (xmlNodePtr c = node->children; c; c = c->next)
        if (named(c, f->xml_name))
            last = c;
    return last ? convert_field_value(ctx, last, f, depth) : zero_value(f, depth);
}

static cJSON *convert_struct(vcenter_convert_context *ctx, xmlNodePtr node,
                             const vsphere_type *type, int depth)
{
    cJSON *obj = cJSON_CreateObject();
    if (depth > MAX_DEPTH)
        return obj;
    for (unsigned i = 0; i < type->field_count; i++)
        cJSON_AddItemToObject(obj, type->fields[i].json_name,
                              convert_field(ctx, node, &type->fields[i], depth));
    return obj;
}

/* An element name as a Go field name: the first letter upper-cased. */
static void pascal_case(const char *xml_name, char *out, size_t cap)
{
    snprintf(out, cap, "%s", xml_name);
    out[0] = (char)toupper((unsigned char)out[0]);
}

/* An element of no known type: a moref when it looks like one, an object when it has element
 * children, else its text as a string (the table is what knows numbers). */
static cJSON *convert_untyped(vcenter_convert_context *ctx, xmlNodePtr node, int depth)
{
    if (xmlHasNsProp(node, BAD_CAST "type", BAD_CAST XSI_NAMESPACE))
        return convert_typed(ctx, node, NULL, depth + 1);
    if (xmlFirstElementChild(node))
        return convert_generic(ctx, node, depth + 1);
    if (xmlHasProp(node, BAD_CAST "type"))
        return json_moref(node);
    return json_scalar(VSPHERE_STRING, node);
}

/* Adds the children of node that no field of base claims, in document order; a name that
 * repeats becomes an array. */
static void add_extra_children(vcenter_convert_context *ctx, cJSON *obj, xmlNodePtr node,
                               const vsphere_type *base, int depth)
{
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!is_element(c))
            continue;
        bool claimed = false;
        for (unsigned i = 0; base && i < base->field_count && !claimed; i++)
            claimed = named(c, base->fields[i].xml_name);
        if (claimed)
            continue;
        char key[128];
        pascal_case((const char *)c->name, key, sizeof key);
        cJSON *value = convert_untyped(ctx, c, depth);
        cJSON *existing = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!existing) {
            cJSON_AddItemToObject(obj, key, value);
        } else if (cJSON_IsArray(existing)) {
            cJSON_AddItemToArray(existing, value);
        } else {
            cJSON *array = cJSON_CreateArray();
            cJSON_AddItemToArray(array, cJSON_DetachItemViaPointer(obj, existing));
            cJSON_AddItemToArray(array, value);
            cJSON_AddItemToObject(obj, key, array);
        }
    }
}

static cJSON *convert_with_base(vcenter_convert_context *ctx, xmlNodePtr node,
                                const vsphere_type *base, int depth)
{
    cJSON *obj = base ? convert_struct(ctx, node, base, depth) : cJSON_CreateObject();
    if (depth <= MAX_DEPTH)
        add_extra_children(ctx, obj, node, base, depth);
    return obj;
}

static cJSON *convert_generic(vcenter_convert_context *ctx, xmlNodePtr node, int depth)
{
    return convert_with_base(ctx, node, NULL, depth);
}

/* The nearest known base of an unknown event class: the longest known event type whose name
 * without "Event" starts the class name (VmFooEvent -> VmEvent), else Event itself when the
 * element carries an event's fields. */
static const vsphere_type *guess_event_base(const char *class_name, xmlNodePtr node)
{
    const vsphere_type *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < vsphere_type_count(); i++) {
        const vsphere_type *t = vsphere_type_at(i);
        size_t len = strlen(t->name);
        if (!t->is_event || len <= 5 || strcmp(t->name + len - 5, "Event") != 0)
            continue;
        size_t stem = len - 5;
        if (stem > best_len && strncmp(class_name, t->name, stem) == 0) {
            best = t;
            best_len = stem;
        }
    }
    if (best)
        return best;
    for (xmlNodePtr c = node->children; c; c = c->next)
        if (named(c, "createdTime"))
            return vsphere_type_find("Event");
    return NULL;
}

cJSON *vcenter_event_data_json(vcenter_convert_context *ctx, xmlNodePtr node,
                               const char **class_out)
{
    if (class_out)
        *class_out = NULL;
    if (!ctx || !is_element(node))
        return NULL;
    xmlChar *declared = xsi_type(node);
    if (!declared)
        return NULL;
    snprintf(last_class, sizeof last_class, "%s", (char *)declared);
    xmlFree(declared);
    if (class_out)
        *class_out = last_class;
    const vsphere_type *type = vsphere_type_find(last_class);
    if (type)
        return convert_struct(ctx, node, type, 0);
    ctx->unknown_classes++;
    return convert_with_base(ctx, node, guess_event_base(last_class, node), 0);
}

/* ---- CloudEvent attributes ---- */

static void uuid_v4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* RAND_bytes failing means no entropy source at all; an id must still be unique. */
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static const char *string_at(const cJSON *obj, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* The managed object the event is about, most specific first. */
static const char *ordering_object(const cJSON *data)
{
    static const char *const paths[][2] = {
        {"Vm", "Vm"},
        {"Host", "Host"},
        {"Ds", "Datastore"},
        {"Net", "Network"},
        {"Dvs", "Dvs"},
        {"ComputeResource", "ComputeResource"},
        {"Datacenter", "Datacenter"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *value = string_at(data, paths[i][0], paths[i][1], "Value");
        if (value)
            return value;
    }
    return NULL;
}

static bool event_key(const cJSON *data, int64_t *key)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(data, "Key");
    if (cJSON_IsNumber(k)) {
        *key = (int64_t)k->valuedouble;
        return true;
    }
    if (cJSON_IsRaw(k) || cJSON_IsString(k)) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(k->valuestring, &end, 10);
        if (!errno && end && !*end && end != k->valuestring) {
            *key = v;
            return true;
        }
    }
    return false;
}

static bool set_attributes(vcenter_convert_context *ctx, event *ev, const char *class_name,
                           const cJSON *data, int64_t key)
{
    const char *category = "event";
    const char *name = class_name;
    if (strcmp(class_name, "EventEx") == 0 || strcmp(class_name, "ExtendedEvent") == 0) {
        category = class_name[1] == 'v' ? "eventex" : "extendedevent";
        const char *type_id = string_at(data, "EventTypeId", NULL, NULL);
        name = type_id ? type_id : class_name;
    }
    /* A createdTime that is not RFC 3339 would make the whole CloudEvent invalid, and receivers
     * refuse it: the optional 'time' is left out instead, the data keeps what vCenter sent. */
    const char *created = string_at(data, "CreatedTime", NULL, NULL);
    if (!event_time_is_rfc3339(created))
        created = NULL;
    char buf[512];
    bool ok = event_set_attribute(ev, "specversion", "1.0") &&
              event_set_attribute(ev, "source", ctx->source_url ? ctx->source_url : "") &&
              event_set_attribute(ev, "datacontenttype", "application/json") &&
              event_set_attribute(ev, "time", created);
    if (ctx->format == VCENTER_FORMAT_SOURCES_KNATIVE) {
        snprintf(buf, sizeof buf, "com.vmware.vsphere.%s.v0", name);
        ok = ok && event_set_attribute(ev, "type", buf);
        snprintf(buf, sizeof buf, "%" PRId64, key);
        ok = ok && event_set_attribute(ev, "id", buf) &&
             event_set_attribute(ev, "eventclass", category);
    } else {
        char id[37];
        uuid_v4(id);
        snprintf(buf, sizeof buf, "com.vmware.event.router/%s", category);
        ok = ok && event_set_attribute(ev, "type", buf) && event_set_attribute(ev, "id", id) &&
             event_set_attribute(ev, "subject", name);
    }
    if (ok && ctx->api_version)
        ok = event_set_attribute(ev, "vsphereapiversion", ctx->api_version);
    return ok;
}

event *vcenter_event_convert(vcenter_convert_context *ctx, xmlNodePtr node, int64_t *key_out,
                             char *reason, size_t reason_cap)
{
    const char *class_name = NULL;
    int64_t key = 0;
    cJSON *data = vcenter_event_data_json(ctx, node, &class_name);
    if (!data) {
        snprintf(reason, reason_cap, "element <%s> has no xsi:type",
                 is_element(node) ? (const char *)node->name : "?");
        return NULL;
    }
    if (!class_name || !*class_name) {
        /* "prefix:" names no class: there is nothing to put in 'type' or 'subject'. */
        snprintf(reason, reason_cap, "element <%s> has an empty xsi:type",
                 is_element(node) ? (const char *)node->name : "?");
        cJSON_Delete(data);
        return NULL;
    }
    const vsphere_type *type = vsphere_type_find(class_name);
    if (type && !type->is_event) {
        snprintf(reason, reason_cap, "%s is not an event class", class_name);
        cJSON_Delete(data);
        return NULL;
    }
    if (!event_key(data, &key)) {
        snprintf(reason, reason_cap, "%s has no numeric key", class_name);
        cJSON_Delete(data);
        return NULL;
    }
    event *ev = event_new();
    if (!ev || !set_attributes(ctx, ev, class_name, data, key)) {
        snprintf(reason, reason_cap, "%s: cannot set CloudEvent attributes", class_name);
        event_unref(ev);
        cJSON_Delete(data);
        return NULL;
    }
    /* Order is kept per managed object; an event about none (a login, a posted event without an
     * entity) has no order to keep, so it is not serialized behind others of its class. */
    const char *object = ordering_object(data);
    if (!(ev->ordering_key = strdup(object ? object : ""))) {
        snprintf(reason, reason_cap, "out of memory");
        event_unref(ev);
        cJSON_Delete(data);
        return NULL;
    }
    event_set_data_json(ev, data);
    if (key_out)
        *key_out = key;
    return ev;
}
