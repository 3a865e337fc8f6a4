/* The openfaas config block (VEBA's keys unchanged, our extensions, errors naming the place,
 * the password never in a message) and the gateway answers' readers: namespaces, functions and
 * their topic annotations (spaces, empty parts, duplicates, namespaces). */
#include "check.h"
#include "config_processor_read.h"

#include "config/config_sections.h"
#include "log.h"
#include "processors/openfaas_functions.h"

#include <stdlib.h>
#include <string.h>

static const char veba[] = "type: openfaas\n"
                           "name: veba-demo-openfaas\n"
                           "openfaas:\n"
                           "  address: http://gateway.openfaas:8080\n"
                           "  async: false\n"
                           "  auth:\n"
                           "    type: basic_auth\n"
                           "    basicAuth:\n"
                           "      username: admin\n"
                           "      password: Gw-secret-42\n";

static void test_veba_block_reads_unchanged(void)
{
    config_processor p;
    config_errors errors = {0};
    CHECK(read_processor(veba, &p, &errors));
    const config_openfaas *o = &p.openfaas;
    CHECK(p.kind == PROCESSOR_OPENFAAS);
    CHECK_STR(o->address, "http://gateway.openfaas:8080");
    CHECK(!o->async);
    CHECK(o->auth.type == AUTH_BASIC);
    CHECK_STR(o->auth.username, "admin");
    CHECK_STR(o->auth.password, "Gw-secret-42");
    CHECK(o->topic_refresh_seconds == 10);
    CHECK(o->topic_from_subject && !o->topic_from_type);
    CHECK(!o->unmatched_deadletter && !o->invoke_with_auth);
    CHECK(o->header_count == 0);
    config_processor_clear(&p);
    config_errors_free(&errors);

    /* auth is optional, a trailing slash on the address is dropped */
    CHECK(read_processor("type: openfaas\nname: f\nopenfaas: {address: 'http://gw:8080/'}\n", &p,
                         &errors));
    CHECK_STR(p.openfaas.address, "http://gw:8080");
    CHECK(p.openfaas.auth.type == AUTH_NONE);
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_extensions(void)
{
    config_processor p;
    config_errors errors = {0};
    CHECK(read_processor(
        "type: openfaas\n"
        "name: f\n"
        "openfaas:\n"
        "  address: http://gw:8080\n"
        "  async: true\n"
        "  topicRefresh: 2s\n"
        "  timeout: 750ms\n"
        "  headers: {X-Team: ops, X-Empty: ''}\n"
        "  topicFrom: [subject, type]\n"
        "  unmatched: deadletter\n"
        "  invokeWithAuth: true\n"
        "  callback: {bindAddress: '127.0.0.1:9000', deadline: 1m, onFailure: retry}\n",
        &p, &errors));
    const config_openfaas *o = &p.openfaas;
    CHECK(o->async);
    CHECK(o->topic_refresh_seconds == 2);
    CHECK(o->timeout_seconds == 0.75);
    CHECK(o->header_count == 2);
    CHECK_STR(o->header_count ? o->headers[0].name : NULL, "X-Team");
    CHECK_STR(o->header_count ? o->headers[0].value : NULL, "ops");
    CHECK_STR(o->header_count > 1 ? o->headers[1].value : NULL, "");
    CHECK(o->topic_from_subject && o->topic_from_type);
    CHECK(o->unmatched_deadletter && o->invoke_with_auth);
    CHECK_STR(o->callback_bind_address, "127.0.0.1:9000");
    CHECK_STR(o->callback_path, "/callback");
    CHECK(o->callback_url == NULL);
    CHECK(o->callback_deadline_seconds == 60 && o->callback_retry);
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_errors_name_the_place(void)
{
    config_processor p;
    config_errors errors = {0};
    read_processor("type: openfaas\n"
                   "name: f\n"
                   "openfaas:\n"
                   "  address: gateway:8080\n"
                   "  topicRefresh: soon\n"
                   "  headers: {Content-Type: text/plain, 'bad name': x}\n"
                   "  topicFrom: [subject, source]\n"
                   "  unmatched: drop\n"
                   "  callback: {bindAddress: '127.0.0.1:9000'}\n"
                   "  colour: blue\n",
                   &p, &errors);
    CHECK(has_error(&errors, "p.yaml:4:12: eventProcessor.openfaas.address"));
    CHECK(has_error(&errors, "p.yaml:5:17: eventProcessor.openfaas.topicRefresh"));
    CHECK(has_error(&errors, "eventProcessor.openfaas.headers.Content-Type: 'Content-Type' is set "
                             "by the processor itself"));
    CHECK(has_error(&errors, "'bad name' is not a valid HTTP header name"));
    CHECK(has_error(&errors, "expected subject or type, got 'source'"));
    CHECK(has_error(&errors, "p.yaml:8:14: eventProcessor.openfaas.unmatched: expected ack or "
                             "deadletter, got 'drop'"));
    CHECK(has_error(&errors, "eventProcessor.openfaas.callback: needs async: true"));
    CHECK(has_error(&errors, "colour"));
    config_processor_clear(&p);
    config_errors_free(&errors);

    /* a bad auth block: the error never shows the password */
    read_processor("type: openfaas\nname: f\nopenfaas:\n  address: http://gw\n  auth:\n"
                   "    type: aws_iam_role\n    basicAuth: {username: u, password: Pw-In-Error}\n",
                   &p, &errors);
    CHECK(errors.count > 0);
    for (size_t i = 0; i < errors.count; i++)
        CHECK(strstr(errors.messages[i], "Pw-In-Error") == NULL);
    config_processor_clear(&p);
    config_errors_free(&errors);
}

static void test_topics_split_as_veba(void)
{
    char **topics;
    size_t count;
    CHECK(openfaas_split_topics(" VmPoweredOnEvent ,, VmPoweredOffEvent,VmPoweredOnEvent, ",
                                &topics, &count) == 0);
    CHECK(count == 2);
    CHECK_STR(count > 0 ? topics[0] : NULL, "VmPoweredOnEvent");
    CHECK_STR(count > 1 ? topics[1] : NULL, "VmPoweredOffEvent");
    openfaas_free_topics(topics, count);
    CHECK(openfaas_split_topics("", &topics, &count) == 0 && count == 0);
    openfaas_free_topics(topics, count);
    CHECK(openfaas_split_topics(" , ,", &topics, &count) == 0 && count == 0);
    openfaas_free_topics(topics, count);
    /* no case folding: two topics */
    CHECK(openfaas_split_topics("a,A", &topics, &count) == 0 && count == 2);
    openfaas_free_topics(topics, count);
}

static void test_gateway_answers(void)
{
    char err[256] = "";
    char **names;
    size_t count;
    CHECK(openfaas_parse_namespaces("[\"openfaas-fn\",\"team-b\"]", &names, &count, err,
                                    sizeof err) == 0);
    CHECK(count == 2);
    CHECK_STR(count > 1 ? names[1] : NULL, "team-b");
    openfaas_free_topics(names, count);
    CHECK(openfaas_parse_namespaces("{\"x\":1}", &names, &count, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "JSON array");
    CHECK(openfaas_parse_namespaces("[1]", &names, &count, err, sizeof err) != 0);

    openfaas_function_list list = {0};
    CHECK(openfaas_parse_functions(
              "[{\"name\":\"figlet\",\"namespace\":\"openfaas-fn\",\"replicas\":1,"
              "\"annotations\":{\"topic\":\"VmPoweredOnEvent, DrsVmPoweredOnEvent\"}},"
              "{\"name\":\"plain\",\"annotations\":{}},"
              "{\"name\":\"own\",\"namespace\":\"other\",\"annotations\":{\"topic\":\"x\"}}]",
              "asked", &list, err, sizeof err) == 0);
    CHECK(list.count == 3);
    CHECK_STR(list.count > 0 ? list.items[0].address_name : NULL, "figlet.openfaas-fn");
    CHECK(list.count > 0 && list.items[0].topic_count == 2);
    CHECK_STR(list.count > 1 ? list.items[1].address_name : NULL, "plain.asked");
    CHECK(list.count > 1 && list.items[1].topic_count == 0);
    CHECK_STR(list.count > 2 ? list.items[2].address_name : NULL, "own.other");
    /* asked without a namespace and none given: the bare name */
    CHECK(openfaas_parse_functions("[{\"name\":\"bare\"}]", NULL, &list, err, sizeof err) == 0);
    CHECK_STR(list.count > 3 ? list.items[3].address_name : NULL, "bare");
    CHECK(openfaas_parse_functions("[{\"image\":\"x\"}]", NULL, &list, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "function 0 has no name");
    CHECK(openfaas_parse_functions("not json", NULL, &list, err, sizeof err) != 0);
    openfaas_function_list_free(&list);
}

int main(void)
{
    RUN_TEST(test_veba_block_reads_unchanged);
    RUN_TEST(test_extensions);
    RUN_TEST(test_errors_name_the_place);
    RUN_TEST(test_topics_split_as_veba);
    RUN_TEST(test_gateway_answers);
    log_forget_secrets();
    return CHECK_DONE();
}
