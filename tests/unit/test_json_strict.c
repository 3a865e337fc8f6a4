/* The strict RFC 8259 checker on JSONTestSuite-style vectors (Nicolas Seriot's y_ must accept,
 * n_ must reject), plus the lenient inputs cJSON takes that issue 11 found reaching strict sinks.
 */
#include "check.h"
#include "http/json_strict.h"

#include <stdlib.h>
#include <string.h>

typedef struct vector {
    const char *name;
    const char *text;
    size_t len; /* 0: strlen(text) */
} vector;

static const vector accepted[] = {
    {"y_array_empty", "[]", 0},
    {"y_array_arraysWithSpaces", "[[]   ]", 0},
    {"y_array_heterogeneous", "[null, 1, \"1\", {}]", 0},
    {"y_array_with_leading_space", " [1]", 0},
    {"y_array_with_trailing_space", "[2] ", 0},
    {"y_object_empty", "{}", 0},
    {"y_object_basic", "{\"asd\":\"sdf\"}", 0},
    {"y_object_duplicated_key", "{\"a\":\"b\",\"a\":\"c\"}", 0},
    {"y_object_empty_key", "{\"\":0}", 0},
    {"y_object_extreme_numbers", "{ \"min\": -1.0e+28, \"max\": 1.0e+28 }", 0},
    {"y_object_with_newlines", "{\n\"a\": \"b\"\n}", 0},
    {"y_number_0e1", "[0e1]", 0},
    {"y_number_minus_zero", "[-0]", 0},
    {"y_number_negative_int", "[-123]", 0},
    {"y_number_real_capital_e_neg_exp", "[1E-2]", 0},
    {"y_number_real_fraction_exponent", "[123.456e78]", 0},
    {"y_number_simple_real", "[123.456789]", 0},
    {"y_string_allowed_escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", 0},
    {"y_string_escaped_null", "[\"a\\u0000b\"]", 0},
    {"y_string_unicode_escaped_double_quote", "[\"\\u0022\"]", 0},
    {"y_string_utf8", "[\"\xe2\x82\xac\xf0\x9d\x84\x9e\"]", 0},
    {"y_string_accepted_surrogate_pair", "[\"\\uD801\\udc37\"]", 0},
    {"y_string_with_del_character",
     "[\"a\x7f"
     "a\"]",
     0},
    {"y_structure_lonely_false", "false", 0},
    {"y_structure_lonely_int", "42", 0},
    {"y_structure_lonely_string", "\"asd\"", 0},
    {"y_structure_whitespace_array", " \t\r\n[] \t\r\n", 0},
    {"y_structure_true_in_array", "[true]", 0},
    {"cloudevent_data", "{\"vm\":{\"name\":\"web-01\",\"cpu\":2.5e0,\"tags\":[]},\"ok\":true}", 0},
};

/* Each with a fragment of the reason it must give. */
static const struct {
    vector v;
    const char *reason;
} rejected[] = {
    {{"n_structure_no_data", "", 0}, "empty text"},
    {{"n_structure_whitespace_only", " \n", 0}, "empty text"},
    {{"issue11_nul_as_whitespace", "{\"a\":\0 1}", 9}, "at byte 5 (0x00): NUL byte"},
    {{"issue11_control_as_whitespace", "{\"a\":\x01 1}", 0}, "control byte"},
    {{"n_structure_whitespace_formfeed", "[\f]", 0}, "control byte"},
    {{"issue11_leading_zero", "{\"a\": 012}", 0}, "at byte 7 ('1'): leading zero"},
    {{"n_number_neg_int_starting_with_zero", "[-012]", 0}, "leading zero"},
    {{"n_number_plus_1", "[+1]", 0}, "expected a value"},
    {{"n_number_starting_with_dot", "[.123]", 0}, "expected a value"},
    {{"n_number_real_without_fractional_part", "[1.]", 0}, "no digit after the decimal point"},
    {{"n_number_0_capital_E", "[0E]", 0}, "no digit in the exponent"},
    {{"n_number_hex_2_digits", "[0x42]", 0}, "expected ',' or ']'"},
    {{"n_number_NaN", "[NaN]", 0}, "expected a value"},
    {{"n_number_infinity", "[Infinity]", 0}, "expected a value"},
    {{"n_number_minus_sign_with_trailing_garbage", "[-foo]", 0}, "'-' not followed by a digit"},
    {{"n_array_extra_comma", "[\"\",]", 0}, "trailing comma"},
    {{"n_array_unclosed", "[\"\"", 0}, "the end"},
    {{"n_array_missing_value", "[   , \"\"]", 0}, "expected a value"},
    {{"n_array_1_true_without_comma", "[1 true]", 0}, "expected ',' or ']'"},
    {{"n_object_trailing_comma", "{\"id\":0,}", 0}, "trailing comma"},
    {{"n_object_single_quote", "{'a':0}", 0}, "single quotes"},
    {{"n_object_unquoted_key", "{a: \"b\"}", 0}, "expected a string key"},
    {{"n_object_missing_colon", "{\"a\" b}", 0}, "expected ':'"},
    {{"n_object_non_string_key", "{1:1}", 0}, "expected a string key"},
    {{"n_object_trailing_comment", "{\"a\":\"b\"}/**/", 0}, "more after the JSON value"},
    {{"n_structure_double_array", "[][]", 0}, "more after the JSON value"},
    {{"n_string_unescaped_tab", "[\"\t\"]", 0}, "unescaped control byte"},
    {{"n_string_unescaped_newline", "[\"new\nline\"]", 0}, "unescaped control byte"},
    {{"n_string_raw_nul", "[\"a\0b\"]", 7}, "NUL byte in a string"},
    {{"n_string_escape_x", "[\"\\x00\"]", 0}, "invalid escape"},
    {{"n_string_incomplete_unicode", "[\"\\u00A\"]", 0}, "four hex digits"},
    {{"n_string_unterminated", "[\"a", 0}, "unterminated string"},
    {{"n_string_invalid_utf8", "[\"\xff\"]", 0}, "invalid UTF-8"},
    {{"n_string_overlong_utf8", "[\"\xc0\xaf\"]", 0}, "invalid UTF-8"},
    {{"n_string_utf8_surrogate", "[\"\xed\xa0\x80\"]", 0}, "invalid UTF-8"},
    {{"n_string_truncated_utf8", "[\"\xe2\x82\"]", 0}, "invalid UTF-8"},
    {{"n_string_single_quote", "['single quote']", 0}, "single quotes"},
    {{"n_incomplete_true", "[tru]", 0}, "invalid literal"},
    {{"n_capitalized_True", "[True]", 0}, "expected a value"},
    {{"n_structure_UTF8_BOM_no_data", "\xef\xbb\xbf", 0}, "byte order mark"},
    {{"n_structure_object_with_trailing_garbage", "{\"a\": true} \"x\"", 0}, "more after"},
    {{"n_structure_unclosed_object", "{\"asd\":\"asd\"", 0}, "expected ',' or '}'"},
    {{"n_structure_comma_instead_of_closing_brace", "{\"x\": true,", 0}, "expected a string key"},
};

static void test_accepts_valid_json(void)
{
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        const vector *v = &accepted[i];
        char reason[200] = "";
        bool ok =
            json_strict_check(v->text, v->len ? v->len : strlen(v->text), reason, sizeof reason);
        if (!ok)
            fprintf(stderr, "  %s refused: %s\n", v->name, reason);
        CHECK(ok);
    }
}

static void test_rejects_invalid_json_with_a_reason(void)
{
    for (size_t i = 0; i < sizeof rejected / sizeof rejected[0]; i++) {
        const vector *v = &rejected[i].v;
        char reason[200] = "";
        bool ok =
            json_strict_check(v->text, v->len ? v->len : strlen(v->text), reason, sizeof reason);
        if (ok)
            fprintf(stderr, "  %s accepted\n", v->name);
        CHECK(!ok);
        if (!strstr(reason, rejected[i].reason))
            fprintf(stderr, "  %s: reason '%s' lacks '%s'\n", v->name, reason, rejected[i].reason);
        CHECK_CONTAINS(reason, rejected[i].reason);
    }
}

/* The depth limit refuses hostile nesting without recursion; the limit itself is accepted. */
static void test_depth_limit(void)
{
    size_t n = JSON_STRICT_MAX_DEPTH;
    char *text = malloc(2 * n + 2);
    memset(text, '[', n);
    memset(text + n, ']', n);
    char reason[200] = "";
    CHECK(json_strict_check(text, 2 * n, reason, sizeof reason));
    memset(text, '[', n + 1);
    memset(text + n + 1, ']', n + 1);
    CHECK(!json_strict_check(text, 2 * n + 2, reason, sizeof reason));
    CHECK_CONTAINS(reason, "nested too deeply");
    /* Unclosed at the limit ends cleanly too. */
    CHECK(!json_strict_check(text, n, reason, sizeof reason));
    free(text);
}

int main(void)
{
    RUN_TEST(test_accepts_valid_json);
    RUN_TEST(test_rejects_invalid_json_with_a_reason);
    RUN_TEST(test_depth_limit);
    return CHECK_DONE();
}
