/* Readers of AWS credential sources. */
#include "processors/aws/aws_credentials.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void free_secret(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

void aws_credentials_clear(aws_credentials *credentials)
{
    free(credentials->access_key_id);
    free_secret(credentials->secret_access_key);
    free_secret(credentials->session_token);
    memset(credentials, 0, sizeof *credentials);
}

int aws_credentials_set(aws_credentials *out, const char *access_key_id,
                        const char *secret_access_key, const char *session_token, double expiration,
                        const char *source)
{
    memset(out, 0, sizeof *out);
    if (!access_key_id || !*access_key_id || !secret_access_key || !*secret_access_key)
        return -1;
    log_register_secret(secret_access_key);
    if (session_token && *session_token)
        log_register_secret(session_token);
    out->access_key_id = strdup(access_key_id);
    out->secret_access_key = strdup(secret_access_key);
    out->session_token = session_token && *session_token ? strdup(session_token) : NULL;
    out->expiration = expiration;
    out->source = source;
    if (!out->access_key_id || !out->secret_access_key ||
        (session_token && *session_token && !out->session_token)) {
        aws_credentials_clear(out);
        return -1;
    }
    return 0;
}

int aws_credentials_copy(aws_credentials *dst, const aws_credentials *src)
{
    aws_credentials_clear(dst);
    return aws_credentials_set(dst, src->access_key_id, src->secret_access_key, src->session_token,
                               src->expiration, src->source);
}

bool aws_parse_iso8601(const char *text, double *out)
{
    if (!text)
        return false;
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
        consumed != 19)
        return false;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    const char *p = text + consumed;
    double fraction = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p)) {
            fraction += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hours, minutes, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hours, &minutes, &n) != 2 || n != 5 || hours > 23 ||
            minutes > 59)
            return false;
        offset = (hours * 3600L + minutes * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    *out = (double)t - (double)offset + fraction;
    return true;
}

/* ---- shared credentials file -------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

int aws_parse_shared_credentials(const char *text, const char *profile, const char *file_name,
                                 aws_credentials *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    char *copy = strdup(text ? text : "");
    if (!copy) {
        format_message(err, err_cap, "out of memory");
        return -1;
    }
    char *key_id = NULL, *secret = NULL, *token = NULL;
    bool in_profile = false, found = false;
    int line_no = 0, profile_line = 0;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                in_profile = false;
                continue;
            }
            *close = '\0';
            in_profile = strcmp(trim(s + 1), profile) == 0;
            if (in_profile && !found) {
                found = true;
                profile_line = line_no;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in_profile || !eq)
            continue;
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (strcmp(key, "aws_access_key_id") == 0)
            key_id = value;
        else if (strcmp(key, "aws_secret_access_key") == 0)
            secret = value;
        else if (strcmp(key, "aws_session_token") == 0)
            token = value;
    }
    int rc;
    if (!found) {
        rc = 1;
    } else if (!key_id || !*key_id || !secret || !*secret) {
        format_message(err, err_cap, "%s:%d: profile [%s] has no %s", file_name, profile_line,
                       profile,
                       !key_id || !*key_id ? "aws_access_key_id" : "aws_secret_access_key");
        rc = -1;
    } else {
        rc = aws_credentials_set(out, key_id, secret, token, 0, "shared credentials file");
        if (rc != 0)
            format_message(err, err_cap, "out of memory");
    }
    OPENSSL_cleanse(copy, strlen(text ? text : ""));
    free(copy);
    return rc;
}

/* ---- STS AssumeRoleWithWebIdentity (XML) -------------------------------------------------- */

static const xmlNode *child_named(const xmlNode *parent, const char *name)
{
    for (const xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
            return n;
    return NULL;
}

/* The element's text (malloc'd by libxml; xmlFree), NULL when absent. */
static char *child_text(const xmlNode *parent, const char *name)
{
    const xmlNode *n = child_named(parent, name);
    return n ? (char *)xmlNodeGetContent(n) : NULL;
}

static void xml_free_secret(char *text)
{
    if (text)
        OPENSSL_cleanse(text, strlen(text));
    xmlFree(text);
}

int aws_parse_sts_web_identity(const char *body, size_t len, aws_credentials *out, char *err,
                               size_t err_cap)
{
    memset(out, 0, sizeof *out);
    if (!body || len == 0 || len > 1024 * 1024) {
        format_message(err, err_cap, "STS sent an empty answer");
        return -1;
    }
    xmlDoc *doc = xmlReadMemory(body, (int)len, "sts.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    int rc = -1;
    if (!root) {
        format_message(err, err_cap, "STS's answer is not XML");
    } else if (strcmp((const char *)root->name, "ErrorResponse") == 0) {
        const xmlNode *error = child_named(root, "Error");
        char *code = child_text(error, "Code");
        char *message = child_text(error, "Message");
        format_message(err, err_cap, "STS refused: %s: %s", code ? code : "unknown error",
                       message ? message : "");
        xmlFree(code);
        xmlFree(message);
    } else if (strcmp((const char *)root->name, "AssumeRoleWithWebIdentityResponse") != 0) {
        format_message(err, err_cap, "STS's answer is not an AssumeRoleWithWebIdentityResponse");
    } else {
        const xmlNode *credentials =
            child_named(child_named(root, "AssumeRoleWithWebIdentityResult"), "Credentials");
        char *key_id = child_text(credentials, "AccessKeyId");
        char *secret = child_text(credentials, "SecretAccessKey");
        char *token = child_text(credentials, "SessionToken");
        char *expiration = child_text(credentials, "Expiration");
        double expires = 0;
        if (!credentials || !key_id || !secret || !token || !*token) {
            format_message(err, err_cap, "STS's answer has no complete Credentials");
        } else if (!aws_parse_iso8601(expiration, &expires)) {
            format_message(err, err_cap, "STS's answer has no valid Expiration for key id %s",
                           key_id);
        } else if (aws_credentials_set(out, key_id, secret, token, expires, "web identity") != 0) {
            format_message(err, err_cap, "STS's answer has empty keys");
        } else {
            rc = 0;
        }
        xmlFree(key_id);
        xml_free_secret(secret);
        xml_free_secret(token);
        xmlFree(expiration);
    }
    xmlFreeDoc(doc);
    return rc;
}

/* ---- ECS and IMDS (JSON) ------------------------------------------------------------------ */

int aws_parse_credentials_json(const char *body, size_t len, const char *source,
                               aws_credentials *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        format_message(err, err_cap, "%s sent credentials that are not a JSON object", source);
        goto out;
    }
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "Code"));
    if (cJSON_GetObjectItemCaseSensitive(root, "Code") && (!code || strcmp(code, "Success"))) {
        const char *message =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "Message"));
        format_message(err, err_cap, "%s answered Code %s%s%s", source, code ? code : "(none)",
                       message ? ": " : "", message ? message : "");
        goto out;
    }
    const char *key_id =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "AccessKeyId"));
    const char *secret =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "SecretAccessKey"));
    const char *token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "Token"));
    const cJSON *expiration = cJSON_GetObjectItemCaseSensitive(root, "Expiration");
    double expires = 0;
    if (!key_id || !*key_id || !secret || !*secret) {
        format_message(err, err_cap, "%s sent no AccessKeyId and SecretAccessKey", source);
        goto out;
    }
    if (expiration && !aws_parse_iso8601(cJSON_GetStringValue(expiration), &expires)) {
        format_message(err, err_cap, "%s sent an invalid Expiration for key id %s", source, key_id);
        goto out;
    }
    if (aws_credentials_set(out, key_id, secret, token, expires, source) != 0) {
        format_message(err, err_cap, "out of memory");
        goto out;
    }
    rc = 0;
out:
    if (root) {
        /* The parsed tree holds the secret too; wipe it before it goes back to the heap. */
        const char *fields[] = {"SecretAccessKey", "Token"};
        for (size_t i = 0; i < 2; i++) {
            char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, fields[i]));
            if (value)
                OPENSSL_cleanse(value, strlen(value));
        }
    }
    cJSON_Delete(root);
    return rc;
}
