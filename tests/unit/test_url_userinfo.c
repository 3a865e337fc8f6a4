/* URLs for messages lose their "user:password@", all of it, whatever the password holds. */
#include "check.h"
#include "http/url_userinfo.h"

#include <stdlib.h>

static void check_display(const char *url, const char *expected)
{
    char *shown = url_without_userinfo(url);
    CHECK_STR(shown, expected);
    free(shown);
}

static void test_userinfo_is_left_out(void)
{
    check_display("http://user:secret@127.0.0.1:8080/path?q=1", "http://127.0.0.1:8080/path?q=1");
    check_display("https://token@gateway.example/", "https://gateway.example/");
    check_display("user:secret@host:80", "host:80");
}

/* Regression: the Knative and OpenFaaS processors cut at the first '@', so a password with an
 * unescaped '@' showed its tail ("ss@host") in their messages. */
static void test_a_password_holding_at_signs_is_left_out_whole(void)
{
    check_display("http://admin:p@ss@w0rd@127.0.0.1:8080/", "http://127.0.0.1:8080/");
}

static void test_an_at_sign_after_the_authority_stays(void)
{
    check_display("http://127.0.0.1:8080/users/a@b?to=c@d#e@f",
                  "http://127.0.0.1:8080/users/a@b?to=c@d#e@f");
    check_display("http://u:p@127.0.0.1/a@b", "http://127.0.0.1/a@b");
    check_display("http://127.0.0.1:8080", "http://127.0.0.1:8080");
    check_display("", "");
}

int main(void)
{
    RUN_TEST(test_userinfo_is_left_out);
    RUN_TEST(test_a_password_holding_at_signs_is_left_out_whole);
    RUN_TEST(test_an_at_sign_after_the_authority_stays);
    return CHECK_DONE();
}
