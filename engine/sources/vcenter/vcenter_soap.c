/* vSphere SOAP calls over http_client. Requests are small templates filled with escaped values;
 * responses are parsed with libxml2 and faults are mapped to a status the source can act on
 * (NotAuthenticated -> log in again, InvalidLogin -> tell the operator which user). */
#include "sources/vcenter/vcenter_soap.h"

#include "http/http_client.h"
#include "log.h"

#include <ctype.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define DEFAULT_API_VERSION "6.5"
#define COOKIE_NAME "vmware_soap_session"
#define CALL_TIMEOUT_MS 60000L

typedef enum { CALL_PLAIN, CALL_SERVICE_CONTENT, CALL_LOGIN, CALL_LOGOUT } call_kind;

struct vcenter_soap {
    http_client *http;
    char *url;
    char *host;
    char *source_url;
    bool insecure;
    char *ca_file;
    char *username;
    char *password;
    char cookie[512]; /* "vmware_soap_session=VALUE" or "" */
    vcenter_service_content content;
};

typedef struct soap_call {
    vcenter_soap *soap;
    call_kind kind;
    size_t max_bytes;
    vcenter_soap_done_fn done;
    void *user;
} soap_call;

/* ---- XML helpers ---- */

xmlNodePtr vcenter_xml_next(xmlNodePtr node, const char *name)
{
    for (; node; node = node->next)
        if (node->type == XML_ELEMENT_NODE && (!name || xmlStrcmp(node->name, BAD_CAST name) == 0))
            return node;
    return NULL;
}

xmlNodePtr vcenter_xml_child(xmlNodePtr parent, const char *name)
{
    return parent ? vcenter_xml_next(parent->children, name) : NULL;
}

bool vcenter_xml_text(xmlNodePtr node, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    if (!node || !cap)
        return false;
    xmlChar *text = xmlNodeGetContent(node);
    if (!text)
        return false;
    const char *start = (const char *)text;
    while (*start == ' ' || *start == '\n' || *start == '\r' || *start == '\t')
        start++;
    size_t len = strlen(start);
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\n' || start[len - 1] == '\r' ||
                   start[len - 1] == '\t'))
        len--;
    bool fits = len < cap;
    if (fits) {
        memcpy(out, start, len);
        out[len] = '\0';
    }
    xmlFree(text);
    return fits;
}

const char *vcenter_xml_type(xmlNodePtr node, char *out, size_t cap)
{
    if (!node || !cap)
        return NULL;
    /* The simulator declares its own prefix for the XMLSchema-instance namespace: match the URI. */
    xmlChar *value = xmlGetNsProp(node, BAD_CAST "type", BAD_CAST XSI_NS);
    if (!value)
        return NULL;
    snprintf(out, cap, "%s", (const char *)value);
    xmlFree(value);
    return out;
}

bool vcenter_event_key(xmlNodePtr event_node, int64_t *key)
{
    char text[32];
    if (!vcenter_xml_text(vcenter_xml_child(event_node, "key"), text, sizeof text) || !text[0])
        return false;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end)
        return false;
    *key = value;
    return true;
}

/* ---- Response parsing ---- */

static void describe_fault(xmlNodePtr fault, const char *username, vcenter_soap_status *status,
                           char *error, size_t error_cap)
{
    char faultstring[512];
    vcenter_xml_text(vcenter_xml_child(fault, "faultstring"), faultstring, sizeof faultstring);
    xmlNodePtr detail = vcenter_xml_child(vcenter_xml_child(fault, "detail"), NULL);
    char type[128] = "";
    if (detail && !vcenter_xml_type(detail, type, sizeof type))
        snprintf(type, sizeof type, "%s", (const char *)detail->name);
    /* Match on the detail: a NotAuthenticated fault comes with an empty faultstring. */
    if (strcmp(type, "InvalidLogin") == 0 || strcmp(type, "InvalidLoginFault") == 0) {
        *status = VCENTER_SOAP_INVALID_LOGIN;
        snprintf(error, error_cap,
                 "vCenter login failed for user \"%s\": invalid user name or "
                 "password",
                 username ? username : "");
    } else if (strcmp(type, "NotAuthenticated") == 0 ||
               strcmp(type, "NotAuthenticatedFault") == 0) {
        *status = VCENTER_SOAP_NOT_AUTHENTICATED;
        snprintf(error, error_cap, "vCenter session is not authenticated (expired or logged out)");
    } else {
        *status = VCENTER_SOAP_FAULT;
        snprintf(error, error_cap, "vCenter fault %s: %s", type[0] ? type : "(no detail)",
                 faultstring[0] ? faultstring : "(no message)");
    }
}

xmlDocPtr vcenter_soap_parse_response(const char *body, size_t len, const char *username,
                                      xmlNodePtr *response, vcenter_soap_status *status,
                                      char *error, size_t error_cap)
{
    *response = NULL;
    xmlDocPtr doc = body && len ? xmlReadMemory(body, (int)len, "soap.xml", NULL,
                                                XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                    XML_PARSE_NOWARNING | XML_PARSE_HUGE)
                                : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr inner = vcenter_xml_child(vcenter_xml_child(root, "Body"), NULL);
    if (!root || xmlStrcmp(root->name, BAD_CAST "Envelope") != 0 || !inner) {
        *status = VCENTER_SOAP_BAD_RESPONSE;
        snprintf(error, error_cap, "vCenter answered something that is not a SOAP envelope");
        xmlFreeDoc(doc);
        return NULL;
    }
    if (xmlStrcmp(inner->name, BAD_CAST "Fault") == 0) {
        describe_fault(inner, username, status, error, error_cap);
        xmlFreeDoc(doc);
        return NULL;
    }
    *status = VCENTER_SOAP_OK;
    if (error_cap)
        error[0] = '\0';
    *response = inner;
    return doc;
}

bool vcenter_soap_parse_service_content(xmlNodePtr returnval, vcenter_service_content *out)
{
    memset(out, 0, sizeof *out);
    if (!returnval)
        return false;
    bool ok = vcenter_xml_text(vcenter_xml_child(returnval, "rootFolder"), out->root_folder,
                               sizeof out->root_folder);
    ok &= vcenter_xml_text(vcenter_xml_child(returnval, "propertyCollector"),
                           out->property_collector, sizeof out->property_collector);
    ok &= vcenter_xml_text(vcenter_xml_child(returnval, "sessionManager"), out->session_manager,
                           sizeof out->session_manager);
    ok &= vcenter_xml_text(vcenter_xml_child(returnval, "eventManager"), out->event_manager,
                           sizeof out->event_manager);
    ok &= vcenter_xml_text(vcenter_xml_child(vcenter_xml_child(returnval, "about"), "apiVersion"),
                           out->api_version, sizeof out->api_version);
    return ok && out->root_folder[0] && out->session_manager[0] && out->event_manager[0] &&
           out->property_collector[0] && out->api_version[0];
}

bool vcenter_soap_parse_session_cookie(const char *set_cookie, char *out, size_t cap)
{
    const char *line = set_cookie;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        const char *p = line;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        size_t name_len = strlen(COOKIE_NAME);
        if ((size_t)(end - p) > name_len && strncmp(p, COOKIE_NAME, name_len) == 0 &&
            p[name_len] == '=') {
            const char *value = p + name_len + 1;
            const char *value_end = value;
            while (value_end < end && *value_end != ';' && *value_end != '\r')
                value_end++;
            while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
                value_end--;
            if (value_end - value >= 2 && *value == '"' && value_end[-1] == '"') {
                value++;
                value_end--;
            }
            if (value_end == value)
                return false;
            int n = snprintf(out, cap, "%s=%.*s", COOKIE_NAME, (int)(value_end - value), value);
            return n > 0 && (size_t)n < cap;
        }
        line = *end ? end + 1 : end;
    }
    return false;
}

size_t vcenter_soap_parse_latest_page(xmlNodePtr returnval, char *version, size_t version_cap,
                                      xmlNodePtr *nodes, size_t cap)
{
    vcenter_xml_text(vcenter_xml_child(returnval, "version"), version, version_cap);
    size_t found = 0;
    for (xmlNodePtr filter = vcenter_xml_child(returnval, "filterSet"); filter;
         filter = vcenter_xml_next(filter->next, "filterSet"))
        for (xmlNodePtr object = vcenter_xml_child(filter, "objectSet"); object;
             object = vcenter_xml_next(object->next, "objectSet"))
            for (xmlNodePtr change = vcenter_xml_child(object, "changeSet"); change;
                 change = vcenter_xml_next(change->next, "changeSet")) {
                char name[64];
                vcenter_xml_text(vcenter_xml_child(change, "name"), name, sizeof name);
                if (strcmp(name, "latestPage") != 0)
                    continue;
                for (xmlNodePtr ev = vcenter_xml_child(vcenter_xml_child(change, "val"), NULL); ev;
                     ev = vcenter_xml_next(ev->next, NULL)) {
                    if (found < cap)
                        nodes[found] = ev;
                    found++;
                }
            }
    return found;
}

/* ---- Client ---- */

static char *normalize_address(const char *address)
{
    const char *scheme = strstr(address, "://") ? "" : "https://";
    const char *after_scheme = strstr(address, "://");
    after_scheme = after_scheme ? after_scheme + 3 : address;
    const char *path = strchr(after_scheme, '/');
    const char *suffix = path && path[1] ? "" : (path ? "sdk" : "/sdk");
    size_t len = strlen(scheme) + strlen(address) + strlen(suffix) + 1;
    char *url = malloc(len);
    if (url)
        snprintf(url, len, "%s%s%s", scheme, address, suffix);
    return url;
}

static char *host_of(const char *url)
{
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    const char *at = strchr(start, '@');
    const char *slash = strchr(start, '/');
    if (at && (!slash || at < slash))
        start = at + 1;
    size_t len = strcspn(start, ":/");
    if (*start == '[') /* IPv6 literal */
        len = strcspn(start, "]") + 1;
    return strndup(start, len);
}

/* scheme://host[:port]/path without user:password@, scheme and host in lower case. */
static char *source_url_of(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return NULL;
    const char *authority = sep + 3;
    const char *path = strchr(authority, '/');
    const char *at = strchr(authority, '@');
    if (at && (!path || at < path))
        authority = at + 1;
    size_t len = strlen(url) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = url; p < sep + 3; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    for (const char *p = authority; *p && p != path; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    snprintf(out + n, len - n, "%s", path ? path : "/sdk");
    return out;
}

vcenter_soap *vcenter_soap_new(uv_loop_t *loop, const config_vcenter *config, char *err,
                               size_t err_cap)
{
    if (!config->address || !config->address[0]) {
        snprintf(err, err_cap, "vCenter address is empty");
        return NULL;
    }
    vcenter_soap *soap = calloc(1, sizeof *soap);
    if (!soap) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    soap->url = normalize_address(config->address);
    soap->host = soap->url ? host_of(soap->url) : NULL;
    soap->source_url = soap->url ? source_url_of(soap->url) : NULL;
    soap->insecure = config->insecure_ssl;
    soap->ca_file = config->ca_file ? strdup(config->ca_file) : NULL;
    soap->username = strdup(config->auth.username ? config->auth.username : "");
    soap->password = strdup(config->auth.password ? config->auth.password : "");
    soap->http = http_client_new(loop);
    if (!soap->url || !soap->host || !soap->source_url || !soap->username || !soap->password ||
        !soap->http || !soap->host[0]) {
        snprintf(err, err_cap, "cannot set up the vCenter client for \"%s\"", config->address);
        vcenter_soap_close(soap);
        return NULL;
    }
    log_register_secret(soap->password);
    snprintf(soap->content.api_version, sizeof soap->content.api_version, "%s",
             DEFAULT_API_VERSION);
    return soap;
}

void vcenter_soap_close(vcenter_soap *soap)
{
    if (!soap)
        return;
    http_client_close(soap->http); /* frees itself once its handles are closed */
    if (soap->password)
        memset(soap->password, 0, strlen(soap->password));
    memset(soap->cookie, 0, sizeof soap->cookie);
    free(soap->url);
    free(soap->host);
    free(soap->source_url);
    free(soap->ca_file);
    free(soap->username);
    free(soap->password);
    free(soap);
}

const char *vcenter_soap_host(const vcenter_soap *soap)
{
    return soap->host;
}

const char *vcenter_soap_source_url(const vcenter_soap *soap)
{
    return soap->source_url;
}

const vcenter_service_content *vcenter_soap_content(const vcenter_soap *soap)
{
    return &soap->content;
}

bool vcenter_soap_logged_in(const vcenter_soap *soap)
{
    return soap->cookie[0] != '\0';
}

static void xml_escape(FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        switch (*p) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            fputc(*p, out);
        }
    }
}

static void on_http_done(void *user, const http_client_response *response)
{
    soap_call *call = user;
    vcenter_soap *soap = call->soap;
    vcenter_soap_result result = {0};
    char error[768] = "";
    xmlDocPtr doc = NULL;
    if (response->error) {
        result.status = VCENTER_SOAP_UNREACHABLE;
        snprintf(error, sizeof error, "vCenter %s unreachable: %s", soap->host, response->error);
    } else if (response->truncated) {
        /* Parsing the cut body would only say "not a SOAP envelope": name the real cause. */
        result.status = VCENTER_SOAP_TOO_LARGE;
        snprintf(error, sizeof error,
                 "vCenter %s answered HTTP %ld with a response too large (%zu bytes cap)",
                 soap->host, response->status, call->max_bytes);
    } else {
        doc = vcenter_soap_parse_response(response->body, response->body_len, soap->username,
                                          &result.response, &result.status, error, sizeof error);
        if (!doc && result.status == VCENTER_SOAP_BAD_RESPONSE)
            snprintf(error, sizeof error, "vCenter %s answered HTTP %ld without a SOAP envelope",
                     soap->host, response->status);
    }
    if (result.status == VCENTER_SOAP_OK) {
        result.returnval = vcenter_xml_child(result.response, "returnval");
        if (call->kind == CALL_SERVICE_CONTENT) {
            vcenter_service_content content;
            if (vcenter_soap_parse_service_content(result.returnval, &content)) {
                soap->content = content;
            } else {
                result.status = VCENTER_SOAP_BAD_RESPONSE;
                snprintf(error, sizeof error, "vCenter %s: incomplete service content", soap->host);
            }
        } else if (call->kind == CALL_LOGIN &&
                   !vcenter_soap_parse_session_cookie(response->set_cookie, soap->cookie,
                                                      sizeof soap->cookie)) {
            result.status = VCENTER_SOAP_BAD_RESPONSE;
            snprintf(error, sizeof error, "vCenter %s: login answered without a %s cookie",
                     soap->host, COOKIE_NAME);
        }
    }
    if (call->kind == CALL_LOGOUT || result.status == VCENTER_SOAP_NOT_AUTHENTICATED)
        soap->cookie[0] = '\0';
    if (result.status != VCENTER_SOAP_OK) {
        result.response = result.returnval = NULL;
        result.error = error;
    }
    call->done(call->user, &result);
    xmlFreeDoc(doc);
    free(call);
}

/* Wraps body_xml in an envelope and posts it. */
static int soap_send(vcenter_soap *soap, call_kind kind, const char *body_xml, long timeout_ms,
                     size_t max_bytes, vcenter_soap_done_fn done, void *user)
{
    soap_call *call = calloc(1, sizeof *call);
    if (!call)
        return -1;
    call->soap = soap;
    call->kind = kind;
    call->max_bytes = max_bytes;
    call->done = done;
    call->user = user;
    char *envelope = NULL;
    size_t envelope_len = 0;
    FILE *out = open_memstream(&envelope, &envelope_len);
    if (!out) {
        free(call);
        return -1;
    }
    fprintf(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"" SOAP_ENV_NS
        "\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"" XSI_NS
        "\"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>",
        body_xml);
    fclose(out);
    char action[64];
    snprintf(action, sizeof action, "urn:vim25/%s", soap->content.api_version);
    http_header headers[3] = {
        {"Content-Type", "text/xml; charset=utf-8"},
        {"SOAPAction", action},
        {"Cookie", soap->cookie},
    };
    http_client_request request = {
        .method = "POST",
        .url = soap->url,
        .headers = headers,
        .header_count = soap->cookie[0] ? 3 : 2,
        .body = envelope,
        .body_len = envelope_len,
        .timeout_ms = timeout_ms,
        .insecure = soap->insecure,
        .ca_file = soap->ca_file,
        .max_response_bytes = max_bytes,
    };
    int rc = http_client_send(soap->http, &request, on_http_done, call);
    memset(envelope, 0, envelope_len); /* a Login body holds the password */
    free(envelope);
    if (rc != 0)
        free(call);
    return rc;
}

/* Builds a body with a printf-like template where every %s is an escaped value. */
static int soap_call_v(vcenter_soap *soap, call_kind kind, long timeout_ms, size_t max_bytes,
                       vcenter_soap_done_fn done, void *user, const char *template,
                       const char **values, size_t value_count)
{
    char *body = NULL;
    size_t body_len = 0;
    FILE *out = open_memstream(&body, &body_len);
    if (!out)
        return -1;
    size_t next = 0;
    for (const char *p = template; *p; p++) {
        if (p[0] == '%' && p[1] == 's' && next < value_count) {
            xml_escape(out, values[next++]);
            p++;
        } else {
            fputc(*p, out);
        }
    }
    fclose(out);
    int rc = soap_send(soap, kind, body, timeout_ms, max_bytes, done, user);
    memset(body, 0, body_len);
    free(body);
    return rc;
}

#define SOAP_CALL_LIMIT(soap, kind, timeout, max_bytes, done, user, template, ...)                 \
    soap_call_v(soap, kind, timeout, max_bytes, done, user, template,                              \
                (const char *[]){__VA_ARGS__},                                                     \
                sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *))
#define SOAP_CALL(soap, kind, timeout, done, user, template, ...)                                  \
    SOAP_CALL_LIMIT(soap, kind, timeout, VCENTER_SOAP_MAX_RESPONSE_BYTES, done, user, template,    \
                    __VA_ARGS__)

int vcenter_soap_retrieve_service_content(vcenter_soap *soap, vcenter_soap_done_fn done, void *user)
{
    return SOAP_CALL(soap, CALL_SERVICE_CONTENT, CALL_TIMEOUT_MS, done, user,
                     "<RetrieveServiceContent xmlns=\"urn:vim25\"><_this "
                     "type=\"ServiceInstance\">%s</_this></RetrieveServiceContent>",
                     "ServiceInstance");
}

int vcenter_soap_login(vcenter_soap *soap, vcenter_soap_done_fn done, void *user)
{
    soap->cookie[0] = '\0';
    return SOAP_CALL(soap, CALL_LOGIN, CALL_TIMEOUT_MS, done, user,
                     "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">%s</_this>"
                     "<userName>%s</userName><password>%s</password></Login>",
                     soap->content.session_manager, soap->username, soap->password);
}

int vcenter_soap_current_time(vcenter_soap *soap, vcenter_soap_done_fn done, void *user)
{
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<CurrentTime xmlns=\"urn:vim25\"><_this "
                     "type=\"ServiceInstance\">%s</_this></CurrentTime>",
                     "ServiceInstance");
}

static bool is_date_time(const char *text)
{
    return !text || text[strspn(text, "0123456789-:.TZ+")] == '\0';
}

int vcenter_soap_create_event_collector(vcenter_soap *soap, const char *begin_time,
                                        const char *end_time, int page_size,
                                        vcenter_soap_done_fn done, void *user)
{
    /* EventFilterSpec's elements in schema order: entity, time, ..., maxCount. */
    char begin[96] = "", end[96] = "", time_filter[256] = "";
    if (begin_time && begin_time[0])
        snprintf(begin, sizeof begin, "<beginTime>%.64s</beginTime>", begin_time);
    if (end_time && end_time[0])
        snprintf(end, sizeof end, "<endTime>%.64s</endTime>", end_time);
    if (begin[0] || end[0])
        snprintf(time_filter, sizeof time_filter, "<time>%s%s</time>", begin, end);
    char max_count[48] = "";
    if (page_size > 0)
        snprintf(max_count, sizeof max_count, "<maxCount>%d</maxCount>",
                 page_size > 1000 ? 1000 : page_size);
    /* The fragments go into the template unescaped: only xsd:dateTime characters are let in. */
    if (!is_date_time(begin_time) || !is_date_time(end_time))
        return -1;
    char template[1024];
    snprintf(template, sizeof template,
             "<CreateCollectorForEvents xmlns=\"urn:vim25\"><_this "
             "type=\"EventManager\">%%s</_this><filter><entity><entity "
             "type=\"Folder\">%%s</entity><recursion>all</recursion></entity>%s%s</filter>"
             "</CreateCollectorForEvents>",
             time_filter, max_count);
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user, template,
                     soap->content.event_manager, soap->content.root_folder);
}

int vcenter_soap_read_next_events(vcenter_soap *soap, const char *collector, int max_count,
                                  vcenter_soap_done_fn done, void *user)
{
    char count[16];
    snprintf(count, sizeof count, "%d", max_count < 1 ? 1 : max_count > 1000 ? 1000 : max_count);
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<ReadNextEvents xmlns=\"urn:vim25\"><_this "
                     "type=\"EventHistoryCollector\">%s</_this><maxCount>%s</maxCount>"
                     "</ReadNextEvents>",
                     collector, count);
}

int vcenter_soap_create_property_collector(vcenter_soap *soap, vcenter_soap_done_fn done,
                                           void *user)
{
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<CreatePropertyCollector xmlns=\"urn:vim25\"><_this "
                     "type=\"PropertyCollector\">%s</_this></CreatePropertyCollector>",
                     soap->content.property_collector);
}

int vcenter_soap_create_latest_page_filter(vcenter_soap *soap, const char *property_collector,
                                           const char *event_collector, vcenter_soap_done_fn done,
                                           void *user)
{
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<CreateFilter xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">%s"
                     "</_this><spec><propSet><type>EventHistoryCollector</type><all>false</all>"
                     "<pathSet>latestPage</pathSet></propSet><objectSet><obj "
                     "type=\"EventHistoryCollector\">%s</obj><skip>false</skip></objectSet>"
                     "</spec><partialUpdates>false</partialUpdates></CreateFilter>",
                     property_collector, event_collector);
}

int vcenter_soap_wait_for_updates(vcenter_soap *soap, const char *property_collector,
                                  const char *version, int max_wait_seconds,
                                  vcenter_soap_done_fn done, void *user)
{
    char wait[16];
    snprintf(wait, sizeof wait, "%d", max_wait_seconds < 0 ? 0 : max_wait_seconds);
    /* The server holds the call for up to max_wait_seconds: give the transfer that and a margin. */
    long timeout_ms = (long)(max_wait_seconds < 0 ? 0 : max_wait_seconds) * 1000L + 30000L;
    return SOAP_CALL_LIMIT(
        soap, CALL_PLAIN, timeout_ms, VCENTER_SOAP_MAX_UPDATE_BYTES, done, user,
        "<WaitForUpdatesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">%s"
        "</_this><version>%s</version><options><maxWaitSeconds>%s</maxWaitSeconds>"
        "</options></WaitForUpdatesEx>",
        property_collector, version ? version : "", wait);
}

int vcenter_soap_destroy_collector(vcenter_soap *soap, const char *collector,
                                   vcenter_soap_done_fn done, void *user)
{
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<DestroyCollector xmlns=\"urn:vim25\"><_this "
                     "type=\"EventHistoryCollector\">%s</_this></DestroyCollector>",
                     collector);
}

int vcenter_soap_destroy_property_collector(vcenter_soap *soap, const char *property_collector,
                                            vcenter_soap_done_fn done, void *user)
{
    return SOAP_CALL(soap, CALL_PLAIN, CALL_TIMEOUT_MS, done, user,
                     "<DestroyPropertyCollector xmlns=\"urn:vim25\"><_this "
                     "type=\"PropertyCollector\">%s</_this></DestroyPropertyCollector>",
                     property_collector);
}

int vcenter_soap_logout(vcenter_soap *soap, vcenter_soap_done_fn done, void *user)
{
    return SOAP_CALL(soap, CALL_LOGOUT, CALL_TIMEOUT_MS, done, user,
                     "<Logout xmlns=\"urn:vim25\"><_this type=\"SessionManager\">%s</_this>"
                     "</Logout>",
                     soap->content.session_manager);
}
