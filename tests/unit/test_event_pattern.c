/* The event-pattern engine operator by operator, every compile error message (with its JSON
 * path and place), the explanations of a miss, and that matching allocates nothing. The shared
 * EventBridge vectors run in test_event_pattern_vectors.c, the random cases against a reference
 * matcher in test_event_pattern_property.c. */
#include "check.h"
#include "filters/event_pattern.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* This test links with -Wl,--wrap=malloc,... (tests/CMakeLists.txt): every allocation the
 * engine's code makes passes through these counters. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
static unsigned long allocations;
void *__wrap_malloc(size_t size)
{
    allocations++;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size)
{
    allocations++;
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *p, size_t size)
{
    allocations++;
    return __real_realloc(p, size);
}

static event_pattern *compile(const char *text)
{
    event_pattern_error error;
    event_pattern *p = event_pattern_compile(text, strlen(text), NULL, &error);
    if (!p) {
        char buf[700];
        fprintf(stderr, "  unexpected compile error for %s: %s\n", text,
                event_pattern_error_format(&error, buf, sizeof buf));
    }
    return p;
}

typedef struct match_case {
    const char *pattern;
    const char *event;
    bool match;
} match_case;

static void run_match_cases(const match_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        event_pattern *p = compile(cases[i].pattern);
        cJSON *event = cJSON_Parse(cases[i].event);
        CHECK(p != NULL);
        CHECK(event != NULL);
        if (p && event) {
            char why[400];
            bool got = event_pattern_explain(p, event, why, sizeof why);
            check_count++;
            if (got != cases[i].match || event_pattern_match(p, event) != got) {
                check_failures++;
                fprintf(stderr, "  %s\n  on %s\n  expected %s, got %s%s%s\n", cases[i].pattern,
                        cases[i].event, cases[i].match ? "match" : "no match",
                        got ? "match" : "no match", got ? "" : ": ", got ? "" : why);
            }
        }
        cJSON_Delete(event);
        event_pattern_free(p);
    }
}

#define RUN_CASES(cases) run_match_cases(cases, sizeof cases / sizeof *cases)

static void test_exact_values(void)
{
    static const match_case cases[] = {
        {"{\"a\": [\"x\"]}", "{\"a\": \"x\"}", true},
        {"{\"a\": [\"x\"]}", "{\"a\": \"X\"}", false},
        {"{\"a\": [\"x\", \"y\"]}", "{\"a\": \"y\"}", true},
        {"{\"a\": [\"x\"]}", "{\"b\": \"x\"}", false},
        {"{\"a\": [\"x\"], \"b\": [\"y\"]}", "{\"a\": \"x\", \"b\": \"y\"}", true},
        {"{\"a\": [\"x\"], \"b\": [\"y\"]}", "{\"a\": \"x\", \"b\": \"z\"}", false},
        /* numbers by value */
        {"{\"n\": [3]}", "{\"n\": 3.0}", true},
        {"{\"n\": [3]}", "{\"n\": 3e0}", true},
        {"{\"n\": [300]}", "{\"n\": 3.0e2}", true},
        {"{\"n\": [3.018e2]}", "{\"n\": 301.8}", true},
        {"{\"n\": [3]}", "{\"n\": 3.0000001}", false},
        {"{\"n\": [3]}", "{\"n\": \"3\"}", false},
        {"{\"n\": [\"3\"]}", "{\"n\": 3}", false},
        {"{\"n\": [123456789012]}", "{\"n\": 123456789012}", true},
        {"{\"n\": [0]}", "{\"n\": -0.0}", false}, /* event-ruler: -0.0 is its own value */
        /* null, "" and booleans are values of their own */
        {"{\"a\": [null]}", "{\"a\": null}", true},
        {"{\"a\": [null]}", "{}", false},
        {"{\"a\": [null]}", "{\"a\": \"\"}", false},
        {"{\"a\": [\"\"]}", "{\"a\": \"\"}", true},
        {"{\"a\": [\"\"]}", "{\"a\": null}", false},
        {"{\"a\": [true]}", "{\"a\": true}", true},
        {"{\"a\": [true]}", "{\"a\": \"true\"}", false},
        {"{\"a\": [false]}", "{\"a\": true}", false},
        {"{\"a\": [false, null]}", "{\"a\": null}", true},
        /* an exact IP matches any spelling of the same address */
        {"{\"ip\": [\"2001:db8::1\"]}", "{\"ip\": \"2001:0DB8:0:0:0:0:0:1\"}", true},
        {"{\"ip\": [\"10.0.0.1\"]}", "{\"ip\": \"10.0.0.1\"}", true},
        {"{\"ip\": [\"10.0.0.1\"]}", "{\"ip\": \"10.0.0.2\"}", false},
        /* non-ASCII text compares byte for byte */
        {"{\"a\": [\"caf\\u00e9 \\ud83d\\ude80\"]}", "{\"a\": \"caf\u00e9 \U0001F680\"}", true},
    };
    RUN_CASES(cases);
}

static void test_arrays_and_nesting(void)
{
    static const match_case cases[] = {
        /* an event array matches when any element does */
        {"{\"r\": [\"x\"]}", "{\"r\": [\"w\", \"x\"]}", true},
        {"{\"r\": [\"x\", \"y\"]}", "{\"r\": [\"y\", \"z\"]}", true},
        {"{\"r\": [\"x\"]}", "{\"r\": []}", false},
        {"{\"r\": [\"x\"]}", "{\"r\": [[\"a\"], [\"x\"]]}", true},
        {"{\"d\": {\"s\": [\"on\"]}}", "{\"d\": {\"s\": \"on\"}}", true},
        {"{\"d\": {\"s\": [\"on\"]}}", "{\"d\": [{\"s\": \"off\"}, {\"s\": \"on\"}]}", true},
        {"{\"d\": {\"s\": [\"on\"]}}", "{\"d\": \"on\"}", false},
        {"{\"d\": [\"on\"]}", "{\"d\": {\"s\": \"on\"}}", false},
        /* fields inside one array of objects come from the same element */
        {"{\"e\": {\"f\": [\"Anna\"], \"l\": [\"Jones\"]}}",
         "{\"e\": [{\"f\": \"Anna\", \"l\": \"Smith\"}, {\"f\": \"Bob\", \"l\": \"Jones\"}]}",
         false},
        {"{\"e\": {\"f\": [\"Anna\"], \"l\": [\"Jones\"]}}",
         "{\"e\": [{\"f\": \"Bob\", \"l\": \"Jones\"}, {\"f\": \"Anna\", \"l\": \"Jones\"}]}",
         true},
        {"{\"e\": {\"f\": [\"Anna\"], \"l\": [\"Jones\"]}}",
         "{\"e\": [[{\"f\": \"Anna\"}, {\"l\": \"Jones\"}]]}", false},
        /* ... but values of different arrays combine freely */
        {"{\"a\": {\"x\": [1]}, \"b\": {\"y\": [2]}}",
         "{\"a\": [{\"x\": 0}, {\"x\": 1}], \"b\": [{\"y\": 2}, {\"y\": 3}]}", true},
        /* a deeper array inside a consistent element */
        {"{\"e\": {\"n\": [\"Anna\"], \"ids\": [7]}}",
         "{\"e\": [{\"n\": \"Bob\", \"ids\": [7]}, {\"n\": \"Anna\", \"ids\": [1, 7]}]}", true},
        {"{\"e\": {\"n\": [\"Anna\"], \"ids\": [7]}}",
         "{\"e\": [{\"n\": \"Bob\", \"ids\": [7]}, {\"n\": \"Anna\", \"ids\": [1, 2]}]}", false},
        /* dot-joined keys, in the pattern and in the event, are nesting */
        {"{\"d\": {\"s.t\": [\"on\"]}}", "{\"d\": {\"s\": {\"t\": \"on\"}}}", true},
        {"{\"d\": {\"s\": {\"t\": [\"on\"]}}}", "{\"d\": {\"s.t\": \"on\"}}", true},
        {"{\"d.s.t\": [\"on\"]}", "{\"d\": {\"s.t\": \"on\"}}", true},
        {"{\"d\": {\"s\": {\"t\": [\"on\"]}}}", "{\"d\": {\"s.t\": {\"t\": \"on\"}}}", false},
        {"{\"d\": {\"\": [\"on\"]}}", "{\"d.\": \"on\"}", true},
        /* the same field written twice: the last one wins */
        {"{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"y\"}", true},
        {"{\"a\": [\"x\"], \"a\": [\"y\"]}", "{\"a\": \"x\"}", false},
        {"{\"d\": {\"s\": [\"x\"]}, \"d.s\": [\"y\"]}", "{\"d\": {\"s\": \"x\"}}", false},
        /* several operators in one array: any of them */
        {"{\"k\": [{\"prefix\": \"ab\"}, {\"suffix\": \"yz\"}, 5]}", "{\"k\": \"xyz\"}", true},
        {"{\"k\": [{\"prefix\": \"ab\"}, {\"suffix\": \"yz\"}, 5]}", "{\"k\": 5}", true},
        {"{\"k\": [{\"prefix\": \"ab\"}, {\"suffix\": \"yz\"}, 5]}", "{\"k\": \"xy\"}", false},
    };
    RUN_CASES(cases);
}

static void test_prefix_suffix_case(void)
{
    static const match_case cases[] = {
        {"{\"t\": [{\"prefix\": \"2017-10\"}]}", "{\"t\": \"2017-10-02T18:43:48Z\"}", true},
        {"{\"t\": [{\"prefix\": \"2017-10\"}]}", "{\"t\": \"2017-1\"}", false},
        {"{\"t\": [{\"prefix\": \"\"}]}", "{\"t\": \"anything\"}", true},
        {"{\"t\": [{\"prefix\": \"1\"}]}", "{\"t\": 123}", false},
        {"{\"f\": [{\"suffix\": \".png\"}]}", "{\"f\": \"a.png\"}", true},
        {"{\"f\": [{\"suffix\": \".png\"}]}", "{\"f\": \"a.PNG\"}", false},
        {"{\"f\": [{\"suffix\": \".png\"}]}", "{\"f\": \"png\"}", false},
        {"{\"s\": [{\"prefix\": {\"equals-ignore-case\": \"EventB\"}}]}",
         "{\"s\": \"eventbridge\"}", true},
        {"{\"s\": [{\"prefix\": {\"equals-ignore-case\": \"EventB\"}}]}", "{\"s\": \"event\"}",
         false},
        {"{\"f\": [{\"suffix\": {\"equals-ignore-case\": \".png\"}}]}", "{\"f\": \"A.PnG\"}", true},
        {"{\"f\": [{\"suffix\": {\"equals-ignore-case\": \".png\"}}]}", "{\"f\": \"A.jpg\"}",
         false},
        {"{\"n\": [{\"equals-ignore-case\": \"alice\"}]}", "{\"n\": \"ALICE\"}", true},
        {"{\"n\": [{\"equals-ignore-case\": \"alice\"}]}", "{\"n\": \"alicE \"}", false},
        {"{\"n\": [{\"equals-ignore-case\": \"\"}]}", "{\"n\": \"\"}", true},
        {"{\"n\": [{\"equals-ignore-case\": \"5\"}]}", "{\"n\": 5}", false},
        /* Unicode letters fold too, multi-byte ones included */
        {"{\"n\": [{\"equals-ignore-case\": \"\\u00c4rger\"}]}", "{\"n\": \"\u00e4RGER\"}", true},
        {"{\"n\": [{\"equals-ignore-case\": \"\\u03a3\\u03bf\\u03c6\\u03af\\u03b1\"}]}",
         "{\"n\": \"\u03c3\u039f\u03a6\u038a\u0391\"}", true}, /* upper of accented iota */
        {"{\"n\": [{\"equals-ignore-case\": \"\\u03a3\\u03bf\\u03c6\\u03af\\u03b1\"}]}",
         "{\"n\": \"\u03c3\u039f\u03a6\u0399\u0391\"}", false}, /* plain iota differs */
        {"{\"n\": [{\"equals-ignore-case\": \"\\u03a3\\u03bf\\u03c6\\u03b9\\u03b1\"}]}",
         "{\"n\": \"\u03c3\u039f\u03a6\u0399\u0391\"}", true},
        {"{\"f\": [{\"suffix\": {\"equals-ignore-case\": \"\\u00e9T\\u00c9\"}}]}",
         "{\"f\": \"\u00e9t\u00c9\u00c9t\u00e9\"}", true},
        {"{\"f\": [{\"prefix\": {\"equals-ignore-case\": \"\\u00e9\"}}]}",
         "{\"f\": \"\u00c9t\u00e9\"}", true},
    };
    RUN_CASES(cases);
}

static void test_wildcard(void)
{
    static const match_case cases[] = {
        {"{\"a\": [{\"wildcard\": \"*bc\"}]}", "{\"a\": \"abc\"}", true},
        {"{\"a\": [{\"wildcard\": \"*bc\"}]}", "{\"a\": \"bc\"}", true},
        {"{\"a\": [{\"wildcard\": \"*bc\"}]}", "{\"a\": \"abcd\"}", false},
        {"{\"a\": [{\"wildcard\": \"d*f\"}]}", "{\"a\": \"dxxf\"}", true},
        {"{\"a\": [{\"wildcard\": \"d*f\"}]}", "{\"a\": \"df\"}", true},
        {"{\"a\": [{\"wildcard\": \"d*f\"}]}", "{\"a\": \"dfx\"}", false},
        {"{\"a\": [{\"wildcard\": \"*\"}]}", "{\"a\": \"\"}", true},
        {"{\"a\": [{\"wildcard\": \"\"}]}", "{\"a\": \"\"}", true},
        {"{\"a\": [{\"wildcard\": \"\"}]}", "{\"a\": \"x\"}", false},
        {"{\"a\": [{\"wildcard\": \"*\"}]}", "{\"a\": 5}", false},
        {"{\"a\": [{\"wildcard\": \"arn:aws:ec2:*:*:instance/*\"}]}",
         "{\"a\": \"arn:aws:ec2:us-east-1:123456789012:instance/i-1\"}", true},
        {"{\"a\": [{\"wildcard\": \"arn:aws:ec2:*:*:instance/*\"}]}",
         "{\"a\": \"arn:aws:s3:::bucket/instance/x\"}", false},
        /* middle segments are found left to right, overlaps included */
        {"{\"a\": [{\"wildcard\": \"a*aa*a\"}]}", "{\"a\": \"aaaa\"}", true},
        {"{\"a\": [{\"wildcard\": \"a*aa*a\"}]}", "{\"a\": \"aaa\"}", false},
        {"{\"a\": [{\"wildcard\": \"*ab*ab*\"}]}", "{\"a\": \"xabyab\"}", true},
        {"{\"a\": [{\"wildcard\": \"*ab*ab*\"}]}", "{\"a\": \"xaby\"}", false},
        /* escapes: \* and \\ are literal */
        {"{\"a\": [{\"wildcard\": \"a\\\\*b\"}]}", "{\"a\": \"a*b\"}", true},
        {"{\"a\": [{\"wildcard\": \"a\\\\*b\"}]}", "{\"a\": \"axb\"}", false},
        {"{\"a\": [{\"wildcard\": \"a\\\\\\\\*\"}]}", "{\"a\": \"a\\\\xyz\"}", true},
        {"{\"a\": [{\"wildcard\": \"a\\\\\\\\*\"}]}", "{\"a\": \"axyz\"}", false},
        /* quamina's shellstyle: the same, without escapes */
        {"{\"a\": [{\"shellstyle\": \"a\\\\*\"}]}", "{\"a\": \"a\\\\b\"}", true},
        {"{\"a\": [{\"shellstyle\": \"*.png\"}]}", "{\"a\": \"x.png\"}", true},
    };
    RUN_CASES(cases);
}

/* What EventBridge is known to accept next to what it refuses (see the error cases). */
static void test_wildcard_complexity_limit(void)
{
    const char *accepted[] = {
        "{\"a\": [{\"wildcard\": \"arn:aws:events:us-east-1:*:event-bus/*\"}]}",
        "{\"a\": [{\"wildcard\": \"/Users/*/dir/dir/dir/dir/dir/doc.txt\"}]}",
        "{\"a\": [{\"wildcard\": \"*:*:*:*:event-bus/*\"}]}",
        "{\"id\": [{\"wildcard\": \"*:stack/Core/*\"}, {\"wildcard\": \"*:stack/Data/*\"}, "
        "{\"wildcard\": \"*:stack/App/*\"}]}",
        /* the same wildcard twice is one */
        "{\"a\": [{\"wildcard\": \"*y*\"}, {\"anything-but\": {\"wildcard\": [\"*y*\", "
        "\"*y*\"]}}]}",
        /* each field is measured on its own */
        "{\"a\": [{\"wildcard\": \"*:*:*:*:event-bus/*\"}], \"b\": [{\"wildcard\": "
        "\"*:*:*:*:event-bus/*\"}]}",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        event_pattern *p = compile(accepted[i]);
        CHECK(p != NULL);
        event_pattern_free(p);
    }
}

static void test_anything_but(void)
{
    static const match_case cases[] = {
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": \"run\"}", true},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": \"init\"}", false},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{}", false}, /* never a missing field */
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": null}", true},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": 5}", true},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": true}", true},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": [\"init\", \"run\"]}", true},
        {"{\"s\": [{\"anything-but\": \"init\"}]}", "{\"s\": [\"init\"]}", false},
        {"{\"s\": [{\"anything-but\": [\"a\", \"b\"]}]}", "{\"s\": \"b\"}", false},
        {"{\"s\": [{\"anything-but\": [\"a\", \"b\"]}]}", "{\"s\": \"c\"}", true},
        {"{\"x\": [{\"anything-but\": 123}]}", "{\"x\": 123.0}", false},
        {"{\"x\": [{\"anything-but\": 123}]}", "{\"x\": 124}", true},
        {"{\"x\": [{\"anything-but\": 123}]}", "{\"x\": \"123\"}", true},
        {"{\"x\": [{\"anything-but\": [100, 200]}]}", "{\"x\": 200}", false},
        {"{\"x\": [{\"anything-but\": [100, 200]}]}", "{\"x\": [100, 50]}", true},
        {"{\"s\": [{\"anything-but\": {\"prefix\": \"init\"}}]}", "{\"s\": \"initializing\"}",
         false},
        {"{\"s\": [{\"anything-but\": {\"prefix\": \"init\"}}]}", "{\"s\": \"in\"}", true},
        {"{\"s\": [{\"anything-but\": {\"prefix\": \"init\"}}]}", "{\"s\": 123}", true},
        {"{\"s\": [{\"anything-but\": {\"prefix\": [\"a\", \"b\"]}}]}", "{\"s\": \"bx\"}", false},
        {"{\"s\": [{\"anything-but\": {\"prefix\": [\"a\", \"b\"]}}]}", "{\"s\": \"cx\"}", true},
        {"{\"f\": [{\"anything-but\": {\"suffix\": \".txt\"}}]}", "{\"f\": \"a.txt\"}", false},
        {"{\"f\": [{\"anything-but\": {\"suffix\": \".txt\"}}]}", "{\"f\": \"a.png\"}", true},
        {"{\"f\": [{\"anything-but\": {\"suffix\": [\".txt\", \".jpg\"]}}]}", "{\"f\": \"a.jpg\"}",
         false},
        {"{\"s\": [{\"anything-but\": {\"equals-ignore-case\": \"Init\"}}]}", "{\"s\": \"INIT\"}",
         false},
        {"{\"s\": [{\"anything-but\": {\"equals-ignore-case\": \"Init\"}}]}", "{\"s\": \"INITs\"}",
         true},
        {"{\"s\": [{\"anything-but\": {\"equals-ignore-case\": [\"a\", \"B\"]}}]}",
         "{\"s\": \"b\"}", false},
        {"{\"s\": [{\"anything-but\": {\"equals-ignore-case\": [\"a\", \"B\"]}}]}", "{\"s\": null}",
         true},
        {"{\"p\": [{\"anything-but\": {\"wildcard\": \"*/lib/*\"}}]}", "{\"p\": \"/usr/lib/x\"}",
         false},
        {"{\"p\": [{\"anything-but\": {\"wildcard\": \"*/lib/*\"}}]}", "{\"p\": \"/usr/bin/x\"}",
         true},
        {"{\"p\": [{\"anything-but\": {\"wildcard\": [\"*.a\", \"*.b\"]}}]}", "{\"p\": \"x.b\"}",
         false},
        {"{\"p\": [{\"anything-but\": {\"wildcard\": [\"*.a\", \"*.b\"]}}]}", "{\"p\": 7}", true},
    };
    RUN_CASES(cases);
}

static void test_numeric(void)
{
    static const match_case cases[] = {
        {"{\"c\": [{\"numeric\": [\">\", 0, \"<=\", 5]}]}", "{\"c\": 5}", true},
        {"{\"c\": [{\"numeric\": [\">\", 0, \"<=\", 5]}]}", "{\"c\": 0}", false},
        {"{\"c\": [{\"numeric\": [\">\", 0, \"<=\", 5]}]}", "{\"c\": 0.000001}", true},
        {"{\"c\": [{\"numeric\": [\">\", 0, \"<=\", 5]}]}", "{\"c\": 5.000001}", false},
        {"{\"c\": [{\"numeric\": [\">=\", 0, \"<\", 5]}]}", "{\"c\": 0}", true},
        {"{\"c\": [{\"numeric\": [\">=\", 0, \"<\", 5]}]}", "{\"c\": 5}", false},
        {"{\"c\": [{\"numeric\": [\"<\", 10]}]}", "{\"c\": -1e300}", true},
        {"{\"c\": [{\"numeric\": [\"<\", 10]}]}", "{\"c\": 10}", false},
        {"{\"c\": [{\"numeric\": [\"<=\", 10]}]}", "{\"c\": 10}", true},
        {"{\"c\": [{\"numeric\": [\">\", -10]}]}", "{\"c\": -9.5}", true},
        {"{\"c\": [{\"numeric\": [\">=\", -10]}]}", "{\"c\": -10.5}", false},
        {"{\"c\": [{\"numeric\": [\"=\", 3.018e2]}]}", "{\"c\": 301.8}", true},
        {"{\"c\": [{\"numeric\": [\"=\", 3]}]}", "{\"c\": 3.5}", false},
        {"{\"c\": [{\"numeric\": [\">\", 0]}]}", "{\"c\": \"5\"}", false},
        {"{\"c\": [{\"numeric\": [\">\", 0]}]}", "{\"c\": null}", false},
        {"{\"c\": [{\"numeric\": [\">\", 0]}]}", "{\"c\": [-1, 1]}", true},
        {"{\"c\": [{\"numeric\": [\">\", 1e9]}]}", "{\"c\": 5e9}", true},
        {"{\"c\": [{\"numeric\": [\">\", 0]}, {\"numeric\": [\"<\", -5]}]}", "{\"c\": -6}", true},
    };
    RUN_CASES(cases);
}

static void test_exists(void)
{
    static const match_case cases[] = {
        {"{\"s\": [{\"exists\": true}]}", "{\"s\": \"x\"}", true},
        {"{\"s\": [{\"exists\": true}]}", "{\"s\": null}", true},
        {"{\"s\": [{\"exists\": true}]}", "{\"s\": []}", false},
        {"{\"s\": [{\"exists\": true}]}", "{\"s\": {\"t\": 1}}", false}, /* leaves only */
        {"{\"s\": [{\"exists\": true}]}", "{}", false},
        {"{\"s\": [{\"exists\": false}]}", "{}", true},
        {"{\"s\": [{\"exists\": false}]}", "{\"s\": {\"t\": 1}}", true},
        {"{\"s\": [{\"exists\": false}]}", "{\"s\": []}", true},
        {"{\"s\": [{\"exists\": false}]}", "{\"s\": null}", false},
        {"{\"s\": [{\"exists\": false}]}", "{\"s\": \"\"}", false},
        {"{\"s\": [{\"exists\": false}, \"x\"]}", "{\"s\": \"x\"}", true},
        {"{\"s\": [{\"exists\": false}, \"x\"]}", "{\"s\": \"y\"}", false},
        {"{\"s\": [{\"exists\": false}, \"x\"]}", "{}", true},
        /* inside an array of objects: absent from the element the other fields chose */
        {"{\"e\": {\"f\": [\"Anna\"], \"ids\": [{\"exists\": false}]}}",
         "{\"e\": [{\"f\": \"John\", \"ids\": [1]}, {\"f\": \"Anna\"}]}", true},
        {"{\"e\": {\"f\": [\"Anna\"], \"ids\": [{\"exists\": true}]}}",
         "{\"e\": [{\"f\": \"John\", \"ids\": [1]}, {\"f\": \"Anna\"}]}", false},
        /* event-ruler checks absence in name order: "e.a" is checked before "e.f" chose an
         * element, so any "a" anywhere in the array makes it present */
        {"{\"e\": {\"f\": [\"Anna\"], \"a\": [{\"exists\": false}]}}",
         "{\"e\": [{\"f\": \"John\", \"a\": 1}, {\"f\": \"Anna\"}]}", false},
        /* the first "e.x" (a dotted key, outside the array) leaves "e.y" free to be found in
         * any element; only the second (inside e[0]) makes it absent */
        {"{\"e\": {\"x\": [\"1\"], \"y\": [{\"exists\": false}]}}",
         "{\"e.x\": \"1\", \"e\": [{\"x\": \"1\"}, {\"y\": \"B\"}]}", true},
    };
    RUN_CASES(cases);
}

static void test_cidr(void)
{
    static const match_case cases[] = {
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/24\"}]}", "{\"ip\": \"10.0.0.255\"}", true},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/24\"}]}", "{\"ip\": \"10.0.1.0\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.9/24\"}]}", "{\"ip\": \"10.0.0.1\"}", true},
        {"{\"ip\": [{\"cidr\": \"0.0.0.0/0\"}]}", "{\"ip\": \"255.255.255.255\"}", true},
        {"{\"ip\": [{\"cidr\": \"192.168.1.4/31\"}]}", "{\"ip\": \"192.168.1.5\"}", true},
        {"{\"ip\": [{\"cidr\": \"192.168.1.4/31\"}]}", "{\"ip\": \"192.168.1.6\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/8\"}]}", "{\"ip\": \"10.1.2.300\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/8\"}]}", "{\"ip\": \"010.1.2.3\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/8\"}]}", "{\"ip\": \"not an ip\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/8\"}]}", "{\"ip\": 10}", false},
        {"{\"ip\": [{\"cidr\": \"2001:db8:1234:1a00::/64\"}]}",
         "{\"ip\": \"2001:db8:1234:1a00:ffff::1\"}", true},
        {"{\"ip\": [{\"cidr\": \"2001:db8:1234:1a00::/64\"}]}",
         "{\"ip\": \"2001:db8:1234:1a01::\"}", false},
        {"{\"ip\": [{\"cidr\": \"2001:db8::/32\"}]}", "{\"ip\": \"10.0.0.1\"}", false},
        {"{\"ip\": [{\"cidr\": \"10.0.0.0/8\"}]}", "{\"ip\": \"::ffff:a00:1\"}", true},
    };
    RUN_CASES(cases);
}

static void test_or(void)
{
    static const match_case cases[] = {
        {"{\"src\": [\"cw\"], \"$or\": [{\"m\": [\"cpu\"]}, {\"ns\": [\"ec2\"]}]}",
         "{\"src\": \"cw\", \"ns\": \"ec2\"}", true},
        {"{\"src\": [\"cw\"], \"$or\": [{\"m\": [\"cpu\"]}, {\"ns\": [\"ec2\"]}]}",
         "{\"src\": \"x\", \"ns\": \"ec2\"}", false},
        {"{\"src\": [\"cw\"], \"$or\": [{\"m\": [\"cpu\"]}, {\"ns\": [\"ec2\"]}]}",
         "{\"src\": \"cw\", \"ns\": \"s3\"}", false},
        /* nested, and in a nested object */
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [2], \"$or\": [{\"c\": [3]}, {\"d\": [4]}]}]}",
         "{\"b\": 2, \"d\": 4}", true},
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [2], \"$or\": [{\"c\": [3]}, {\"d\": [4]}]}]}",
         "{\"b\": 2, \"d\": 5}", false},
        {"{\"detail\": {\"$or\": [{\"c\": [1]}, {\"d\": [2]}]}}", "{\"detail\": {\"d\": 2}}", true},
        {"{\"detail\": {\"$or\": [{\"c\": [1]}, {\"d\": [2]}]}}", "{\"d\": 2}", false},
        /* two $or side by side: both must hold */
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [1]}], \"x\": {\"$or\": [{\"c\": [1]}, {\"d\": "
         "[1]}]}}",
         "{\"b\": 1, \"x\": {\"c\": 1}}", true},
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [1]}], \"x\": {\"$or\": [{\"c\": [1]}, {\"d\": "
         "[1]}]}}",
         "{\"b\": 1, \"x\": {\"e\": 1}}", false},
        /* a field after $or goes into every alternative, and overrides one inside it */
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [1]}], \"a\": [2]}", "{\"a\": 2}", true},
        {"{\"$or\": [{\"a\": [1]}, {\"b\": [1]}], \"a\": [2]}", "{\"a\": 1}", false},
        /* not an OR: a field named "$or" */
        {"{\"$or\": [{\"prefix\": \"a\"}, {\"prefix\": \"b\"}]}", "{\"$or\": \"bee\"}", true},
        {"{\"$or\": {\"m\": [\"x\"]}}", "{\"$or\": {\"m\": \"x\"}}", true},
        {"{\"$or\": [\"x\"]}", "{\"$or\": \"x\"}", true},
    };
    RUN_CASES(cases);
}

/* ---- errors ---- */

typedef struct error_case {
    const char *pattern;
    const char *path;
    const char *message;
} error_case;

static void run_error_cases(const error_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        event_pattern_error error;
        event_pattern *p =
            event_pattern_compile(cases[i].pattern, strlen(cases[i].pattern), NULL, &error);
        check_count++;
        if (p) {
            check_failures++;
            fprintf(stderr, "  accepted, expected \"%s\": %s\n", cases[i].message,
                    cases[i].pattern);
            event_pattern_free(p);
            continue;
        }
        if (strcmp(error.path, cases[i].path) != 0 ||
            strncmp(error.message, cases[i].message, strlen(cases[i].message)) != 0) {
            check_failures++;
            fprintf(stderr, "  %s\n  expected %s: %s\n  got      %s: %s\n", cases[i].pattern,
                    cases[i].path, cases[i].message, error.path, error.message);
        }
    }
}

#define RUN_ERRORS(cases) run_error_cases(cases, sizeof cases / sizeof *cases)

static void test_structure_errors(void)
{
    static const error_case cases[] = {
        {"[]", "", "Filter is not an object"},
        {"\"x\"", "", "Filter is not an object"},
        {"{}", "", "Empty objects are not allowed"},
        {"{\"a\": {}}", "a", "Empty objects are not allowed"},
        {"{\"a\": 1}", "a", "\"a\" must be an object or an array"},
        {"{\"a\": \"x\"}", "a", "\"a\" must be an object or an array"},
        {"{\"a\": []}", "a", "Empty arrays are not allowed"},
        {"{\"a\": [[1]]}", "a[0]", "Match value must be String, number, true, false, or null"},
        {"{\"a\": [{}]}", "a[0]", "Match expression name not found"},
        {"{\"a\": [{\"prefix\": \"x\", \"suffix\": \"y\"}]}", "a[0].suffix",
         "Only one key allowed in match expression"},
        {"{\"a\": [{\"foo\": 1}]}", "a[0].foo", "Unrecognized match type foo"},
        {"{\"a\": [{\"EXISTS\": true}]}", "a[0].EXISTS", "Unrecognized match type EXISTS"},
        {"{\"a\": [\"x\", {\"exists\": 1}]}", "a[1].exists",
         "exists match pattern must be either true or false."},
        {"{\"a\": [{\"exists\": true, \"x\": 1}]}", "a[0].x",
         "Only one key allowed in match expression"},
        /* JSON itself */
        {"{\"a\": [1,]}", "", "invalid JSON: unexpected character"},
        {"{\"a\": [01]}", "", "invalid JSON: leading zero in a number"},
        {"{\"a\": [\"x\"]} x", "", "invalid JSON: text after the end of the pattern"},
        {"{\"a\": [\"\\ud800\"]}", "", "invalid JSON: unpaired UTF-16 surrogate"},
        {"{\"a\": [\"\xff\"]}", "", "invalid JSON: invalid UTF-8 in a string"},
        {"{\"a\": [\"\x01\"]}", "", "invalid JSON: control character in a string"},
        {"{\"a\": [\"\\q\"]}", "", "invalid JSON: unknown escape in a string"},
        {"{\"a\": [\"x", "", "invalid JSON: unterminated string"},
        {"{\"a\" [1]}", "", "invalid JSON: expected ':' after a key"},
        {"", "", "invalid JSON: unexpected end of text"},
    };
    RUN_ERRORS(cases);
}

static void test_operator_errors(void)
{
    static const error_case cases[] = {
        {"{\"a\": [{\"prefix\": 1}]}", "a[0].prefix", "prefix match pattern must be a string"},
        {"{\"a\": [{\"prefix\": [\"x\"]}]}", "a[0].prefix",
         "prefix match pattern must be a string"},
        {"{\"a\": [{\"suffix\": null}]}", "a[0].suffix", "suffix match pattern must be a string"},
        {"{\"a\": [{\"prefix\": {}}]}", "a[0].prefix", "Prefix expression name not found"},
        {"{\"a\": [{\"suffix\": {}}]}", "a[0].suffix", "Suffix expression name not found"},
        {"{\"a\": [{\"prefix\": {\"wildcard\": \"x\"}}]}", "a[0].prefix.wildcard",
         "Unsupported prefix pattern: wildcard"},
        {"{\"a\": [{\"suffix\": {\"x\": \"y\"}}]}", "a[0].suffix.x",
         "Unsupported suffix pattern: x"},
        {"{\"a\": [{\"prefix\": {\"equals-ignore-case\": 1}}]}", "a[0].prefix.equals-ignore-case",
         "equals-ignore-case match pattern must be a string"},
        {"{\"a\": [{\"prefix\": {\"equals-ignore-case\": \"x\", \"y\": 1}}]}", "a[0].prefix.y",
         "Only one key allowed in match expression"},
        {"{\"a\": [{\"equals-ignore-case\": [\"x\"]}]}", "a[0].equals-ignore-case",
         "equals-ignore-case match pattern must be a string"},
        {"{\"a\": [{\"wildcard\": 1}]}", "a[0].wildcard",
         "wildcard match pattern must be a string"},
        {"{\"a\": [{\"wildcard\": \"a**\"}]}", "a[0].wildcard",
         "Consecutive wildcard characters at pos 2"},
        {"{\"a\": [{\"wildcard\": \"a\\\\b\"}]}", "a[0].wildcard",
         "Invalid escape character at pos 2"},
        {"{\"a\": [{\"wildcard\": \"ab\\\\\"}]}", "a[0].wildcard",
         "Invalid escape character at pos 3"},
        {"{\"a\": [{\"wildcard\": \"*:*:*:*:*:event-bus/*\"}]}", "a",
         "Rule is too complex - try using fewer wildcard characters or fewer repeating "
         "character sequences after a wildcard character"},
        /* four of "*:stack/NAME/" + "*" on one field are too many for EventBridge, three are not
         * (test_wildcard_complexity_limit) */
        {"{\"id\": [{\"wildcard\": \"*:stack/Core/*\"}, {\"wildcard\": \"*:stack/Data/*\"}, "
         "{\"wildcard\": \"*:stack/App/*\"}, {\"wildcard\": \"*:stack/Monitoring/*\"}]}",
         "id", "Rule is too complex"},
        {"{\"id\": [{\"anything-but\": {\"wildcard\": [\"*:s/a/*\", \"*:s/b/*\", \"*:s/c/*\", "
         "\"*:s/d/*\"]}}]}",
         "id", "Rule is too complex"},
        {"{\"a\": [{\"shellstyle\": 2}]}", "a[0].shellstyle",
         "shellstyle match pattern must be a string"},
        {"{\"a\": [{\"shellstyle\": \"**\"}]}", "a[0].shellstyle",
         "Consecutive wildcard characters at pos 1"},
        /* numeric */
        {"{\"a\": [{\"numeric\": 10}]}", "a[0].numeric", "Value of numeric must be an array."},
        {"{\"a\": [{\"numeric\": []}]}", "a[0].numeric", "Invalid member in numeric match: ]"},
        {"{\"a\": [{\"numeric\": [5]}]}", "a[0].numeric", "Invalid member in numeric match: 5"},
        {"{\"a\": [{\"numeric\": [\"!=\", 5]}]}", "a[0].numeric",
         "Unrecognized numeric range operator: !="},
        {"{\"a\": [{\"numeric\": [\"=\", \"5\"]}]}", "a[0].numeric",
         "Value of equals must be numeric"},
        {"{\"a\": [{\"numeric\": [\">\"]}]}", "a[0].numeric", "Value of > must be numeric"},
        {"{\"a\": [{\"numeric\": [\"<=\", true]}]}", "a[0].numeric", "Value of <= must be numeric"},
        {"{\"a\": [{\"numeric\": [\"=\", 1, 2]}]}", "a[0].numeric",
         "Too many elements in numeric expression"},
        {"{\"a\": [{\"numeric\": [\"<\", 1, \">\", 0]}]}", "a[0].numeric",
         "Too many elements in numeric expression"},
        {"{\"a\": [{\"numeric\": [\">\", 0], \"x\": 1}]}", "a[0].x",
         "Too many elements in numeric expression"},
        {"{\"a\": [{\"numeric\": [\">\", 0, 5, 6]}]}", "a[0].numeric",
         "Bad value in numeric range: 5"},
        {"{\"a\": [{\"numeric\": [\">\", 0, \">\", 0]}]}", "a[0].numeric",
         "Bad numeric range operator: >"},
        {"{\"a\": [{\"numeric\": [\">\", 0, \"<\"]}]}", "a[0].numeric",
         "Value of < must be numeric"},
        {"{\"a\": [{\"numeric\": [\">\", 0, \"<\", 5, 6]}]}", "a[0].numeric",
         "Too many terms in numeric range expression"},
        {"{\"a\": [{\"numeric\": [\">=\", 5, \"<=\", 5]}]}", "a[0].numeric",
         "Bottom must be less than top"},
        {"{\"a\": [{\"numeric\": [\">\", 6, \"<\", 5]}]}", "a[0].numeric",
         "Bottom must be less than top"},
        {"{\"a\": [{\"numeric\": [\">\", 1e400]}]}", "a[0].numeric",
         "Cannot compare number : 1e400"},
        {"{\"a\": [{\"numeric\": [\"=\", 0.10000000000000000001]}]}", "a[0].numeric",
         "Cannot compare number : 0.10000000000000000001"},
        /* cidr */
        {"{\"a\": [{\"cidr\": [\"x\"]}]}", "a[0].cidr", "prefix match pattern must be a string"},
        {"{\"a\": [{\"cidr\": \"10.0.0.0\"}]}", "a[0].cidr", "Malformed CIDR, one '/' required"},
        {"{\"a\": [{\"cidr\": \"10.0.0.0/8/8\"}]}", "a[0].cidr",
         "Malformed CIDR, one '/' required"},
        {"{\"a\": [{\"cidr\": \"10.0.0.0/x\"}]}", "a[0].cidr",
         "Malformed CIDR, mask bits must be an integer"},
        {"{\"a\": [{\"cidr\": \"10.0.0.0/-1\"}]}", "a[0].cidr",
         "Malformed CIDR, mask bits must not be negative"},
        {"{\"a\": [{\"cidr\": \"host.example/8\"}]}", "a[0].cidr",
         "Nonstandard IP address: host.example"},
        {"{\"a\": [{\"cidr\": \"300.0.0.0/8\"}]}", "a[0].cidr", "Invalid IP address: 300.0.0.0"},
        {"{\"a\": [{\"cidr\": \"1::2::3/8\"}]}", "a[0].cidr", "Invalid IP address: 1::2::3"},
        {"{\"a\": [{\"cidr\": \"10.0.0.1/32\"}]}", "a[0].cidr", "IPv4 mask bits must be < 32"},
        {"{\"a\": [{\"cidr\": \"::1/128\"}]}", "a[0].cidr", "IPv6 mask bits must be < 128"},
        {"{\"a\": [{\"cidr\": \"10.0.0.0/8\", \"x\": 1}]}", "a[0].x",
         "Only one key allowed in match expression"},
    };
    RUN_ERRORS(cases);
}

static void test_anything_but_errors(void)
{
    static const error_case cases[] = {
        {"{\"a\": [{\"anything-but\": {}}]}", "a[0].anything-but",
         "Anything-But expression name not found"},
        {"{\"a\": [{\"anything-but\": {\"numeric\": [\">\", 1]}}]}", "a[0].anything-but.numeric",
         "Unsupported anything-but pattern: numeric"},
        {"{\"a\": [{\"anything-but\": null}]}", "a[0].anything-but",
         "Value of anything-but must be an array or single string/number value."},
        {"{\"a\": [{\"anything-but\": {\"prefix\": {\"equals-ignore-case\": \"x\"}}}]}",
         "a[0].anything-but.prefix",
         "Value of anything-but must be an array or single string/number value."},
        {"{\"a\": [{\"anything-but\": [\"x\", null]}]}", "a[0].anything-but[1]",
         "Inside anything but list, start|null|boolean is not supported."},
        {"{\"a\": [{\"anything-but\": [\"x\", 1]}]}", "a[0].anything-but",
         "Inside anything but list, either all values are number or string, mixed type is not "
         "supported"},
        {"{\"a\": [{\"anything-but\": []}]}", "a[0].anything-but",
         "Inside anything but list, either all values are number or string, mixed type is not "
         "supported"},
        {"{\"a\": [{\"anything-but\": [1e400]}]}", "a[0].anything-but[0]",
         "Cannot compare number : 1e400"},
        {"{\"a\": [{\"anything-but\": {\"prefix\": \"\"}}]}", "a[0].anything-but.prefix",
         "Null prefix/suffix not allowed"},
        {"{\"a\": [{\"anything-but\": {\"suffix\": [\"x\", \"\"]}}]}",
         "a[0].anything-but.suffix[1]", "Null prefix/suffix not allowed"},
        {"{\"a\": [{\"anything-but\": {\"prefix\": 1}}]}", "a[0].anything-but.prefix",
         "prefix/suffix match pattern must be a string"},
        {"{\"a\": [{\"anything-but\": {\"suffix\": [null]}}]}", "a[0].anything-but.suffix[0]",
         "prefix/suffix match pattern must be a string"},
        {"{\"a\": [{\"anything-but\": {\"equals-ignore-case\": 1}}]}",
         "a[0].anything-but.equals-ignore-case",
         "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not "
         "supported."},
        {"{\"a\": [{\"anything-but\": {\"wildcard\": [1]}}]}", "a[0].anything-but.wildcard[0]",
         "wildcard match pattern must be a string"},
        {"{\"a\": [{\"anything-but\": {\"wildcard\": [\"x\", \"y**\"]}}]}",
         "a[0].anything-but.wildcard[1]", "Consecutive wildcard characters at pos 2"},
        {"{\"a\": [{\"anything-but\": \"x\", \"y\": 1}]}", "a[0].y",
         "Only one key allowed in match expression"},
        {"{\"a\": [{\"anything-but\": {\"prefix\": \"x\", \"y\": 1}}]}", "a[0].anything-but.y",
         "Only one key allowed in match expression"},
    };
    RUN_ERRORS(cases);
}

static void test_or_errors(void)
{
    static const error_case cases[] = {
        {"{\"$or\": [{\"a\": [1]}]}", "$or",
         "There must have at least 2 Objects in $or "
         "relationship."},
        {"{\"$or\": [{\"a\": [1]}, \"x\"]}", "$or[1]",
         "Only JSON object is allowed in array of $or relationship."},
        {"{\"$or\": 5}", "$or", "It must be an Array followed with $or."},
        {"{\"$or\": [{\"a\": [1]}, {\"numeric\": [\">\", 1]}]}", "$or[1].numeric",
         "numeric is Ruler reserved fieldName which cannot be used inside $or."},
        {"{\"$or\": [{\"a\": [1]}, {\"b\": {\"cidr\": [\"x\"]}}]}", "$or[1].b.cidr",
         "cidr is Ruler reserved fieldName which cannot be used inside $or."},
        {"{\"$or\": [{\"a\": [1]}, {\"b\": []}]}", "$or[1].b", "Empty arrays are not allowed"},
        /* eleven two-way ORs side by side multiply out to 2048 alternatives */
        {"{\"a\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},\"b\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},"
         "\"c\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},\"d\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},"
         "\"e\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},\"f\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},"
         "\"g\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},\"h\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},"
         "\"i\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},\"j\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]},"
         "\"k\":{\"$or\":[{\"x\":[1]},{\"y\":[1]}]}}",
         "k.$or[1]", "the $or alternatives multiply out to more than 1024 alternatives"},
    };
    RUN_ERRORS(cases);
}

static void test_error_position_and_format(void)
{
    const char *text = "{\n  \"detail\": {\n    \"state\": [ {\"prefix\": 5} ]\n  }\n}";
    event_pattern_error error;
    CHECK(event_pattern_compile(text, strlen(text), NULL, &error) == NULL);
    CHECK_STR(error.path, "detail.state[0].prefix");
    CHECK(error.line == 3);
    CHECK(error.col == 27);
    CHECK(error.offset == (size_t)(strstr(text, "5}") - text));
    char buf[700];
    CHECK_STR(event_pattern_error_format(&error, buf, sizeof buf),
              "detail.state[0].prefix: prefix match pattern must be a string");

    /* the length limit counts characters */
    event_pattern_options aws = {.max_chars = EVENT_PATTERN_AWS_MAX_CHARS};
    char big[2100];
    int n = snprintf(big, sizeof big, "{\"a\": [\"");
    while (n < 2050)
        big[n++] = 'x';
    n += snprintf(big + n, sizeof big - (size_t)n, "\"]}");
    CHECK(event_pattern_compile(big, (size_t)n, &aws, &error) == NULL);
    CHECK_CONTAINS(error.message, "at most 2048");
    event_pattern *p = event_pattern_compile(big, (size_t)n, NULL, &error);
    CHECK(p != NULL);
    event_pattern_free(p);
    /* NULL error is allowed */
    CHECK(event_pattern_compile("[]", 2, NULL, NULL) == NULL);
}

static void test_warnings(void)
{
    event_pattern *p = compile("{\"a\": [{\"shellstyle\": \"x*\"}]}");
    CHECK(p != NULL);
    if (p) {
        CHECK(event_pattern_warning_count(p) == 1);
        CHECK_CONTAINS(event_pattern_warning(p, 0), "a[0].shellstyle");
        CHECK_CONTAINS(event_pattern_warning(p, 0), "write {\"wildcard\": ...}");
        CHECK(event_pattern_warning(p, 1) == NULL);
    }
    event_pattern_free(p);
    p = compile("{\"$or\": [\"x\"]}");
    CHECK(p != NULL);
    if (p) {
        CHECK(event_pattern_warning_count(p) == 1);
        CHECK_CONTAINS(event_pattern_warning(p, 0), "field name");
    }
    event_pattern_free(p);
    p = compile("{\"$or\": [{\"a\": [1]}, {\"b\": [2]}]}");
    CHECK(p && event_pattern_warning_count(p) == 0);
    event_pattern_free(p);
}

static void explain_is(const char *pattern, const char *event_text, const char *expected)
{
    event_pattern *p = compile(pattern);
    cJSON *event = cJSON_Parse(event_text);
    char why[400];
    CHECK(p && event && !event_pattern_explain(p, event, why, sizeof why));
    CHECK_STR(why, expected);
    cJSON_Delete(event);
    event_pattern_free(p);
}

static void test_explain(void)
{
    explain_is("{\"detail\": {\"subject\": [\"VmPoweredOnEvent\"]}}",
               "{\"detail\": {\"subject\": \"VmPoweredOffEvent\"}}",
               "detail.subject: \"VmPoweredOffEvent\" does not match");
    explain_is("{\"a\": [\"x\"], \"b\": [\"y\"]}", "{\"a\": \"x\"}", "b: missing");
    explain_is("{\"a\": [{\"exists\": false}]}", "{\"a\": 1}",
               "a: present, but the pattern wants it absent ({\"exists\": false})");
    explain_is("{\"a\": [{\"exists\": true}]}", "{\"a\": {\"b\": 1}}",
               "a: is an object, and the pattern's operators apply to values (leaves) only");
    explain_is("{\"$or\": [{\"a\": [1], \"b\": [2]}, {\"c\": [3]}]}", "{\"a\": 1, \"b\": 5}",
               "b ($or alternative 1 of 2): 5 does not match");
    event_pattern *p = compile("{\"a\": [1]}");
    cJSON *event = cJSON_Parse("{\"a\": 1}");
    char why[64] = "unchanged";
    CHECK(event_pattern_explain(p, event, why, sizeof why));
    CHECK_STR(why, "");
    CHECK(!event_pattern_match(NULL, event));
    CHECK(!event_pattern_match(p, NULL));
    cJSON_Delete(event);
    event_pattern_free(p);
}

/* Matching is on the hot path of every event: it must not touch the allocator. */
static void test_match_allocates_nothing(void)
{
    const char *pattern =
        "{\"source\": [{\"prefix\": \"https://vc\"}],"
        " \"subject\": [\"VmPoweredOnEvent\", \"VmPoweredOffEvent\"],"
        " \"data\": {\"Key\": [{\"numeric\": [\">\", 10]}],"
        " \"UserName\": [{\"anything-but\": [\"vpxd-extension\"]}],"
        " \"Vm\": {\"Name\": [{\"wildcard\": \"*VM*\"}]},"
        " \"Tags\": {\"k\": [\"env\"], \"v\": [{\"equals-ignore-case\": \"PROD\"}]},"
        " \"Ip\": [{\"cidr\": \"10.0.0.0/8\"}], \"Gone\": [{\"exists\": false}]}}";
    const char *event_text =
        "{\"source\": \"https://vc.lab/sdk\", \"subject\": \"VmPoweredOnEvent\", \"data\": "
        "{\"Key\": 42, \"UserName\": \"admin\", \"Vm\": {\"Name\": \"DC0_H0_VM0\"}, \"Tags\": "
        "[{\"k\": \"team\", \"v\": \"a\"}, {\"k\": \"env\", \"v\": \"prod\"}], \"Ip\": "
        "\"10.1.2.3\"}}";
    event_pattern *p = compile(pattern);
    cJSON *event = cJSON_Parse(event_text);
    CHECK(p && event);
    if (!p || !event)
        return;
    CHECK(event_pattern_match(p, event));
    unsigned long before = allocations;
    bool all = true;
    for (int i = 0; i < 1000; i++)
        all = all && event_pattern_match(p, event);
    CHECK(all);
    CHECK(allocations == before);
    /* the counters do see the engine's allocations (so the check above can fail) */
    event_pattern *q = compile("{\"a\": [1]}");
    CHECK(allocations > before);
    event_pattern_free(q);
    cJSON_Delete(event);
    event_pattern_free(p);
}

int main(void)
{
    RUN_TEST(test_exact_values);
    RUN_TEST(test_arrays_and_nesting);
    RUN_TEST(test_prefix_suffix_case);
    RUN_TEST(test_wildcard);
    RUN_TEST(test_wildcard_complexity_limit);
    RUN_TEST(test_anything_but);
    RUN_TEST(test_numeric);
    RUN_TEST(test_exists);
    RUN_TEST(test_cidr);
    RUN_TEST(test_or);
    RUN_TEST(test_structure_errors);
    RUN_TEST(test_operator_errors);
    RUN_TEST(test_anything_but_errors);
    RUN_TEST(test_or_errors);
    RUN_TEST(test_error_position_and_format);
    RUN_TEST(test_warnings);
    RUN_TEST(test_explain);
    RUN_TEST(test_match_allocates_nothing);
    return CHECK_DONE();
}
