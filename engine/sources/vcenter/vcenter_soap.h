/* A small asynchronous client for the vSphere Web Services SOAP API (urn:vim25) at
 * https://HOST/sdk, on http_client and libxml2: only the calls the vCenter event source needs.
 *
 * Every call is asynchronous: done(user, result) runs exactly once, never from inside the call.
 * The session cookie captured at Login is sent on every later call. Faults become a status plus
 * a message that never holds the password.
 *
 * The parse functions below are pure (no I/O) so they can be tested on recorded responses. */
#ifndef EVENT_ROUTER_VCENTER_SOAP_H
#define EVENT_ROUTER_VCENTER_SOAP_H

#include "config/config.h"

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct vcenter_soap vcenter_soap;

typedef enum {
    VCENTER_SOAP_OK = 0,
    VCENTER_SOAP_UNREACHABLE,       /* no HTTP response (connection refused, timeout, TLS) */
    VCENTER_SOAP_NOT_AUTHENTICATED, /* session absent or expired: log in again */
    VCENTER_SOAP_INVALID_LOGIN,     /* wrong user name or password */
    VCENTER_SOAP_FAULT,             /* any other SOAP fault */
    VCENTER_SOAP_BAD_RESPONSE,      /* not a SOAP answer we understand */
    VCENTER_SOAP_TOO_LARGE,         /* the answer exceeded the call's byte limit (none parsed) */
} vcenter_soap_status;

typedef struct vcenter_soap_result {
    vcenter_soap_status status;
    const char *error;    /* human-readable, without secrets; NULL when status is OK */
    xmlNodePtr response;  /* the <XxxResponse> element (status OK), valid during the callback */
    xmlNodePtr returnval; /* its first <returnval> child, or NULL (e.g. an empty page) */
} vcenter_soap_result;

typedef void (*vcenter_soap_done_fn)(void *user, const vcenter_soap_result *result);

/* Managed object references of the ServiceInstance's content, and the API version to speak. */
typedef struct vcenter_service_content {
    char root_folder[128];
    char property_collector[128];
    char session_manager[128];
    char event_manager[128];
    char api_version[32];
} vcenter_service_content;

/* Copies what it needs from config (address, TLS settings, credentials). NULL with err filled on
 * an unusable address. */
vcenter_soap *vcenter_soap_new(uv_loop_t *loop, const config_vcenter *config, char *err,
                               size_t err_cap);
/* Aborts calls in flight (their done callbacks run with UNREACHABLE "client closed") and frees the
 * client once its handles are closed. */
void vcenter_soap_close(vcenter_soap *soap);

/* The host part of the address (for log lines and the checkpoint file name). */
const char *vcenter_soap_host(const vcenter_soap *soap);
/* The SDK URL without credentials (scheme://host[:port]/sdk): the CloudEvent source, as VEBA. */
const char *vcenter_soap_source_url(const vcenter_soap *soap);
/* Filled after a successful vcenter_soap_retrieve_service_content. */
const vcenter_service_content *vcenter_soap_content(const vcenter_soap *soap);
bool vcenter_soap_logged_in(const vcenter_soap *soap);

int vcenter_soap_retrieve_service_content(vcenter_soap *soap, vcenter_soap_done_fn done,
                                          void *user);
/* On success the session cookie is kept for every later call. */
int vcenter_soap_login(vcenter_soap *soap, vcenter_soap_done_fn done, void *user);
/* returnval holds the server's time (xsd:dateTime). */
int vcenter_soap_current_time(vcenter_soap *soap, vcenter_soap_done_fn done, void *user);
/* An EventHistoryCollector over every entity under the root folder, from begin_time to end_time
 * (xsd:dateTime, NULL or "" for open), whose latestPage holds at most page_size events
 * (EventFilterSpec maxCount, clamped to 1..1000; 0 leaves the server's default of 10). returnval
 * holds its reference. */
int vcenter_soap_create_event_collector(vcenter_soap *soap, const char *begin_time,
                                        const char *end_time, int page_size,
                                        vcenter_soap_done_fn done, void *user);
/* Each <returnval> sibling holds one event. max_count is clamped to 1..1000. */
int vcenter_soap_read_next_events(vcenter_soap *soap, const char *collector, int max_count,
                                  vcenter_soap_done_fn done, void *user);
int vcenter_soap_create_property_collector(vcenter_soap *soap, vcenter_soap_done_fn done,
                                           void *user);
/* A filter on the event collector's latestPage property. */
int vcenter_soap_create_latest_page_filter(vcenter_soap *soap, const char *property_collector,
                                           const char *event_collector, vcenter_soap_done_fn done,
                                           void *user);
/* version "" for the first call; returnval is NULL when max_wait_seconds passed without change. */
int vcenter_soap_wait_for_updates(vcenter_soap *soap, const char *property_collector,
                                  const char *version, int max_wait_seconds,
                                  vcenter_soap_done_fn done, void *user);
int vcenter_soap_destroy_collector(vcenter_soap *soap, const char *collector,
                                   vcenter_soap_done_fn done, void *user);
int vcenter_soap_destroy_property_collector(vcenter_soap *soap, const char *property_collector,
                                            vcenter_soap_done_fn done, void *user);
/* Responses longer than this fail with TOO_LARGE "... response too large (N bytes cap)": a
 * ReadNextEvents page of 1000 events (about 1-2 KB each) fits many times over. */
#define VCENTER_SOAP_MAX_RESPONSE_BYTES (16u * 1024u * 1024u)
/* WaitForUpdatesEx cannot be bounded on every server (the simulator ignores maxObjectUpdates and
 * answers one update per posted event: a burst of 10,000 at page size 1 is about 6 MiB). An
 * answer over it is read again from the history instead. */
#define VCENTER_SOAP_MAX_UPDATE_BYTES (64u * 1024u * 1024u)
/* Forgets the cookie whatever the answer. */
int vcenter_soap_logout(vcenter_soap *soap, vcenter_soap_done_fn done, void *user);

/* ---- Pure parsing, exposed for tests. ---- */

/* Parses a whole SOAP response. On success returns the document (caller frees with xmlFreeDoc)
 * and sets *response to the element inside <Body>. On a fault or garbage returns NULL and fills
 * status and error. username (may be NULL) is named in the InvalidLogin message. */
xmlDocPtr vcenter_soap_parse_response(const char *body, size_t len, const char *username,
                                      xmlNodePtr *response, vcenter_soap_status *status,
                                      char *error, size_t error_cap);
bool vcenter_soap_parse_service_content(xmlNodePtr returnval, vcenter_service_content *out);
/* From Set-Cookie header values (one per line), writes "vmware_soap_session=VALUE" into out with
 * any quotes around VALUE removed (as Go's net/http does). False when there is no such cookie. */
bool vcenter_soap_parse_session_cookie(const char *set_cookie, char *out, size_t cap);
/* The next sibling (or first child, when node is the parent) element named name, or NULL. */
xmlNodePtr vcenter_xml_child(xmlNodePtr parent, const char *name);
xmlNodePtr vcenter_xml_next(xmlNodePtr node, const char *name);
/* Text content of node, trimmed, into out. False when node is NULL or it does not fit. */
bool vcenter_xml_text(xmlNodePtr node, char *out, size_t cap);
/* The xsi:type of node, matched by namespace URI whatever the prefix; NULL when absent. */
const char *vcenter_xml_type(xmlNodePtr node, char *out, size_t cap);
/* The event key (<key>) of an event node; false when absent. */
bool vcenter_event_key(xmlNodePtr event_node, int64_t *key);
/* From a WaitForUpdatesEx returnval: its version, and the events of every latestPage change (in
 * document order) into nodes[0..cap). Returns the number of event nodes found (may exceed cap). */
size_t vcenter_soap_parse_latest_page(xmlNodePtr returnval, char *version, size_t version_cap,
                                      xmlNodePtr *nodes, size_t cap);

#endif
