/* A URL fit for messages: without the "user:password@" it may carry. A password in a URL is not a
 * registered secret the log masks by value, so whatever names a URL in a log line, an error or the
 * console goes through this first. */
#ifndef EVENT_ROUTER_HTTP_URL_USERINFO_H
#define EVENT_ROUTER_HTTP_URL_USERINFO_H

/* A copy of url (the caller frees it) leaving out the userinfo of its authority, up to the last
 * '@' before the path: a password may itself hold an unescaped '@'. NULL when out of memory. */
char *url_without_userinfo(const char *url);

#endif
