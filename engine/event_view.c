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
        data->string = "data";
        data->type |= cJSON_StringIsConst;
        data->prev = NULL;
        link_member(&view->root, data, &last);
    }
    return &view->root;
}
