#include "event_view.h"

#include <string.h>

static void link_member(cJSON *root, cJSON *member, cJSON **last)
{
    member->next = NULL;
    if (*last) {
        (*last)->next = member;
        member->prev = *last;
    } else {
        root->child = member;
    }
    root->child->prev = member; /* cJSON keeps the last child in the first one's prev */
    *last = member;
}

static void add_string(cJSON *root, cJSON *member, cJSON **last, const char *name,
                       const char *value)
{
    memset(member, 0, sizeof *member);
    member->type = cJSON_String | cJSON_IsReference | cJSON_StringIsConst;
    member->string = (char *)name;
    member->valuestring = (char *)value;
    link_member(root, member, last);
}

const cJSON *event_view_init(event_view *view, const event *ev)
{
    memset(&view->root, 0, sizeof view->root);
    view->root.type = cJSON_Object | cJSON_IsReference;
    cJSON *last = NULL;
    size_t used = 0;
    const struct {
        const char *name;
        const char *value;
    } attributes[] = {
        {"specversion", ev->specversion},
        {"id", ev->id},
        {"source", ev->source},
        {"type", ev->type},
        {"subject", ev->subject},
        {"time", ev->time},
        {"datacontenttype", ev->datacontenttype},
        {"dataschema", ev->dataschema},
    };
    for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++)
        if (attributes[i].value)
            add_string(&view->root, &view->members[used++], &last, attributes[i].name,
                       attributes[i].value);
    for (size_t i = 0; i < ev->extension_count && i < EVENT_VIEW_MAX_EXTENSIONS; i++)
        add_string(&view->root, &view->members[used++], &last, ev->extensions[i].name,
                   ev->extensions[i].value);
    if (ev->data_json) {
        /* A shallow copy of the data's top node: its children are the event's own. */
        cJSON *data = &view->members[used++];
        *data = *ev->data_json;
        data->type |= cJSON_IsReference;
        data->string = (char *)"data";
        data->type |= cJSON_StringIsConst;
        data->prev = NULL;
        link_member(&view->root, data, &last);
    }
    return &view->root;
}

const cJSON *event_view_eventbridge(eventbridge_view *view, const event *ev,
                                    const eventbridge_fields *fields)
{
    const cJSON *detail = event_view_init(&view->detail, ev);
    memset(&view->root, 0, sizeof view->root);
    view->root.type = cJSON_Object | cJSON_IsReference;
    cJSON *last = NULL;
    size_t used = 0;
    const char *detail_type = fields->detail_type ? fields->detail_type
                              : ev->subject       ? ev->subject
                                                  : ev->type;
    const struct {
        const char *name;
        const char *value;
    } members[] = {
        {"version", "0"},           {"detail-type", detail_type},
        {"source", ev->source},     {"account", fields->account},
        {"region", fields->region}, {"time", fields->time ? fields->time : ev->time},
    };
    for (size_t i = 0; i < sizeof members / sizeof *members; i++)
        if (members[i].value)
            add_string(&view->root, &view->members[used++], &last, members[i].name,
                       members[i].value);
    cJSON *resources = &view->resources_array;
    memset(resources, 0, sizeof *resources);
    resources->type = cJSON_Array | cJSON_IsReference;
    resources->string = (char *)"resources";
    resources->type |= cJSON_StringIsConst;
    cJSON *last_resource = NULL;
    for (size_t i = 0; i < fields->resource_count && i < EVENT_VIEW_MAX_RESOURCES; i++)
        add_string(resources, &view->resources[i], &last_resource, NULL, fields->resources[i]);
    link_member(&view->root, resources, &last);
    /* The CloudEvent's root, renamed: a copy of the node, its members are the view's. */
    cJSON *detail_node = &view->members[used];
    *detail_node = *detail;
    detail_node->string = (char *)"detail";
    detail_node->type |= cJSON_StringIsConst;
    detail_node->prev = NULL;
    link_member(&view->root, detail_node, &last);
    return &view->root;
}
