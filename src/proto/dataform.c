/* SPDX-License-Identifier: MIT
 *
 * dataform.c: XEP-0004 Data Forms (version 2.13.2): the form model, parsing of
 * <x xmlns='jabber:x:data'/> (§3.1, §3.2), field type rules (§3.3), building the XML
 * back, and validating a submission against the offered form (§3.3, §4). <reported/>
 * and <item/> (§3.4) are skipped by the parser; nothing here uses them yet. No
 * sockets, no globals; every allocation failure is propagated.
 */
#include "dataform.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "jid.h"

static const char *const form_type_names[] = {
    [DATAFORM_FORM] = "form",
    [DATAFORM_SUBMIT] = "submit",
    [DATAFORM_CANCEL] = "cancel",
    [DATAFORM_RESULT] = "result",
};

static const char *const field_type_names[] = {
    [FIELD_BOOLEAN] = "boolean",
    [FIELD_FIXED] = "fixed",
    [FIELD_HIDDEN] = "hidden",
    [FIELD_JID_MULTI] = "jid-multi",
    [FIELD_JID_SINGLE] = "jid-single",
    [FIELD_LIST_MULTI] = "list-multi",
    [FIELD_LIST_SINGLE] = "list-single",
    [FIELD_TEXT_MULTI] = "text-multi",
    [FIELD_TEXT_PRIVATE] = "text-private",
    [FIELD_TEXT_SINGLE] = "text-single",
};

#define N_FORM_TYPES  (sizeof form_type_names / sizeof form_type_names[0])
#define N_FIELD_TYPES (sizeof field_type_names / sizeof field_type_names[0])

static const char OOM[] = "out of memory";

/* Copies s into *dst (NULL stays NULL), freeing the old value. */
static int
set_str(char **dst, const char *s)
{
    char *copy = NULL;
    if (s != NULL && (copy = yb_strdup(s)) == NULL)
        return YB_ENOMEM;
    yb_free(*dst);
    *dst = copy;
    return 0;
}

static void
field_fini(struct dataform_field *fl)
{
    yb_free(fl->var);
    yb_free(fl->label);
    yb_free(fl->desc);
    for (size_t i = 0; i < fl->n_values; i++)
        yb_free(fl->values[i]);
    yb_free(fl->values);
    for (size_t i = 0; i < fl->n_options; i++) {
        yb_free(fl->options[i].label);
        yb_free(fl->options[i].value);
    }
    yb_free(fl->options);
}

struct dataform *
dataform_new(enum dataform_type type)
{
    struct dataform *f = yb_calloc(1, sizeof *f);
    if (f != NULL)
        f->type = type;
    return f;
}

void
dataform_free(struct dataform *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_fields; i++)
        field_fini(&f->fields[i]);
    yb_free(f->fields);
    yb_free(f->title);
    yb_free(f->instructions);
    yb_free(f);
}

int
dataform_set_title(struct dataform *f, const char *title)
{
    return set_str(&f->title, title);
}

int
dataform_set_instructions(struct dataform *f, const char *text)
{
    return set_str(&f->instructions, text);
}

struct dataform_field *
dataform_add_field(struct dataform *f, enum dataform_field_type type, const char *var,
                   const char *label)
{
    struct dataform_field *grown = yb_realloc(f->fields, (f->n_fields + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    f->fields = grown;
    struct dataform_field *fl = &grown[f->n_fields];
    memset(fl, 0, sizeof *fl);
    fl->type = type;
    if (set_str(&fl->var, var) != 0 || set_str(&fl->label, label) != 0) {
        field_fini(fl);
        return NULL;
    }
    f->n_fields++;
    return fl;
}

int
dataform_field_add_value(struct dataform_field *fl, const char *value)
{
    char **grown = yb_realloc(fl->values, (fl->n_values + 1) * sizeof *grown);
    if (grown == NULL)
        return YB_ENOMEM;
    fl->values = grown;
    if ((grown[fl->n_values] = yb_strdup(value)) == NULL)
        return YB_ENOMEM;
    fl->n_values++;
    return 0;
}

int
dataform_field_add_option(struct dataform_field *fl, const char *label, const char *value)
{
    struct dataform_option *grown = yb_realloc(fl->options, (fl->n_options + 1) * sizeof *grown);
    if (grown == NULL)
        return YB_ENOMEM;
    fl->options = grown;
    struct dataform_option *o = &grown[fl->n_options];
    o->label = NULL;
    o->value = NULL;
    if (set_str(&o->label, label) != 0 || (o->value = yb_strdup(value)) == NULL) {
        yb_free(o->label);
        return YB_ENOMEM;
    }
    fl->n_options++;
    return 0;
}

int
dataform_set_form_type(struct dataform *f, const char *ns)
{
    /* XEP-0068 §2: FORM_TYPE is a hidden field, placed first by convention. */
    struct dataform_field *fl = dataform_find(f, "FORM_TYPE");
    if (fl != NULL) {
        for (size_t i = 0; i < fl->n_values; i++)
            yb_free(fl->values[i]);
        fl->n_values = 0;
        return dataform_field_add_value(fl, ns);
    }
    fl = dataform_add_field(f, FIELD_HIDDEN, "FORM_TYPE", NULL);
    if (fl == NULL)
        return YB_ENOMEM;
    if (dataform_field_add_value(fl, ns) != 0) {
        field_fini(fl);
        f->n_fields--;
        return YB_ENOMEM;
    }
    if (f->n_fields > 1) {
        struct dataform_field tmp = *fl;
        memmove(&f->fields[1], &f->fields[0], (f->n_fields - 1) * sizeof tmp);
        f->fields[0] = tmp;
    }
    return 0;
}

struct dataform_field *
dataform_find(const struct dataform *f, const char *var)
{
    for (size_t i = 0; i < f->n_fields; i++)
        if (f->fields[i].var != NULL && strcmp(f->fields[i].var, var) == 0)
            return &f->fields[i];
    return NULL;
}

const char *
dataform_value(const struct dataform *f, const char *var)
{
    const struct dataform_field *fl = dataform_find(f, var);
    if (fl == NULL || fl->n_values == 0 || fl->values[0][0] == '\0')
        return NULL;
    return fl->values[0];
}

const char *
dataform_form_type(const struct dataform *f)
{
    return dataform_value(f, "FORM_TYPE");
}

bool
dataform_parse_bool(const char *s, bool *out)
{
    /* XEP-0004 §3.3: the XML Schema boolean lexical space. */
    if (s == NULL)
        return false;
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *out = true;
    else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *out = false;
    else
        return false;
    return true;
}

static bool
is_single_valued(enum dataform_field_type t)
{
    return t != FIELD_JID_MULTI && t != FIELD_LIST_MULTI && t != FIELD_TEXT_MULTI;
}

static bool
is_valid_jid(const char *s)
{
    /* A NULL from jid_new may also be OOM; both count as "not a JID" here. */
    struct jid *j = jid_new(s);
    jid_free(j);
    return j != NULL;
}

/* Checks that values fit type t. Empty values count as "no value" (clients send
 * <value/> for fields they leave blank), so they are not checked. */
static const char *
check_values(enum dataform_field_type t, char *const *values, size_t n_values)
{
    if (is_single_valued(t) && n_values > 1)
        return "several values in a single-valued field";
    for (size_t i = 0; i < n_values; i++) {
        bool b;
        if (values[i][0] == '\0')
            continue;
        if (t == FIELD_BOOLEAN && !dataform_parse_bool(values[i], &b))
            return "invalid boolean value";
        if ((t == FIELD_JID_SINGLE || t == FIELD_JID_MULTI) && !is_valid_jid(values[i]))
            return "invalid JID value";
    }
    return NULL;
}

/* node_text() that tells OOM apart. */
static int
text_of(const struct xml_node *n, const char **out)
{
    *out = node_text(n);
    return *out == NULL ? YB_ENOMEM : 0;
}

static int
append_instructions(struct dataform *f, const char *text)
{
    if (f->instructions == NULL)
        return set_str(&f->instructions, text);
    size_t a = strlen(f->instructions), b = strlen(text);
    char *joined = yb_realloc(f->instructions, a + 1 + b + 1);
    if (joined == NULL)
        return YB_ENOMEM;
    joined[a] = '\n';
    memcpy(joined + a + 1, text, b + 1);
    f->instructions = joined;
    return 0;
}

/* Parses one <field/> into f. Returns 0, YB_EINVAL (*why set) or YB_ENOMEM. */
static int
parse_field(struct dataform *f, const struct xml_node *el, const char **why)
{
    const char *type_name = node_attr(el, "type");
    const char *var = node_attr(el, "var");
    enum dataform_field_type type = FIELD_TEXT_SINGLE;
    const char *text;

    /* §3.2: without a type the field is text-single. A submission may leave types
     * out, so the value count of an untyped field is only checked by validate
     * against the offered field's type. */
    if (type_name != NULL) {
        size_t i;
        for (i = 0; i < N_FIELD_TYPES; i++)
            if (strcmp(type_name, field_type_names[i]) == 0)
                break;
        if (i == N_FIELD_TYPES) {
            *why = "unknown field type";
            return YB_EINVAL;
        }
        type = (enum dataform_field_type)i;
    }
    /* §3.2: var is required except for fixed fields, and unique within the form. */
    if (var == NULL && type != FIELD_FIXED) {
        *why = "field without var";
        return YB_EINVAL;
    }
    if (var != NULL && dataform_find(f, var) != NULL) {
        *why = "duplicate field var";
        return YB_EINVAL;
    }

    struct dataform_field *fl = dataform_add_field(f, type, var, node_attr(el, "label"));
    if (fl == NULL)
        return YB_ENOMEM;
    for (const struct xml_node *c = node_first_element(el); c; c = node_next_element(c)) {
        if (strcmp(c->ns, NS_DATA) != 0)
            continue; /* e.g. XEP-0122 <validate/>, XEP-0221 <media/> */
        if (strcmp(c->name, "value") == 0) {
            if (text_of(c, &text) != 0 || dataform_field_add_value(fl, text) != 0)
                return YB_ENOMEM;
        } else if (strcmp(c->name, "required") == 0) {
            fl->required = true;
        } else if (strcmp(c->name, "desc") == 0 && fl->desc == NULL) {
            if (text_of(c, &text) != 0 || set_str(&fl->desc, text) != 0)
                return YB_ENOMEM;
        } else if (strcmp(c->name, "option") == 0) {
            const struct xml_node *v = node_child(c, "value", NS_DATA);
            if (v == NULL) {
                *why = "option without value";
                return YB_EINVAL;
            }
            if (text_of(v, &text) != 0 ||
                dataform_field_add_option(fl, node_attr(c, "label"), text) != 0)
                return YB_ENOMEM;
        }
    }
    if (type_name != NULL && (*why = check_values(type, fl->values, fl->n_values)) != NULL)
        return YB_EINVAL;
    return 0;
}

struct dataform *
dataform_parse(const struct xml_node *x, const char **why)
{
    const char *text;
    int rc = 0;

    *why = NULL;
    if (x->kind != XML_ELEMENT || strcmp(x->name, "x") != 0 || strcmp(x->ns, NS_DATA) != 0) {
        *why = "not a jabber:x:data element";
        return NULL;
    }
    const char *type_name = node_attr(x, "type");
    size_t t = 0;
    while (type_name != NULL && t < N_FORM_TYPES && strcmp(type_name, form_type_names[t]) != 0)
        t++;
    if (type_name == NULL || t == N_FORM_TYPES) {
        *why = type_name == NULL ? "form without type" : "unknown form type";
        return NULL;
    }

    struct dataform *f = dataform_new((enum dataform_type)t);
    if (f == NULL) {
        *why = OOM;
        return NULL;
    }
    for (const struct xml_node *c = node_first_element(x); c && rc == 0; c = node_next_element(c)) {
        if (strcmp(c->ns, NS_DATA) != 0)
            continue;
        if (strcmp(c->name, "field") == 0) {
            rc = parse_field(f, c, why);
        } else if (strcmp(c->name, "title") == 0 && f->title == NULL) {
            rc = text_of(c, &text);
            if (rc == 0)
                rc = set_str(&f->title, text);
        } else if (strcmp(c->name, "instructions") == 0) {
            rc = text_of(c, &text);
            if (rc == 0)
                rc = append_instructions(f, text);
        }
    }
    if (rc != 0) {
        if (rc == YB_ENOMEM)
            *why = OOM;
        dataform_free(f);
        return NULL;
    }
    return f;
}

static bool
has_value(const struct dataform_field *fl)
{
    for (size_t i = 0; fl != NULL && i < fl->n_values; i++)
        if (fl->values[i][0] != '\0')
            return true;
    return false;
}

static bool
is_option(const struct dataform_field *offered, const char *value)
{
    for (size_t i = 0; i < offered->n_options; i++)
        if (strcmp(offered->options[i].value, value) == 0)
            return true;
    return false;
}

int
dataform_validate(const struct dataform *submitted, const struct dataform *offered, bool strict,
                  const char **why)
{
    *why = NULL;
    const char *want_type = dataform_form_type(offered);
    const char *got_type = dataform_form_type(submitted);
    if (want_type != NULL && got_type != NULL && strcmp(want_type, got_type) != 0) {
        *why = "FORM_TYPE does not match";
        return YB_EINVAL;
    }

    for (size_t i = 0; i < offered->n_fields; i++) {
        const struct dataform_field *o = &offered->fields[i];
        if (o->required && o->var != NULL && !has_value(dataform_find(submitted, o->var))) {
            *why = "required field missing";
            return YB_EINVAL;
        }
    }

    for (size_t i = 0; i < submitted->n_fields; i++) {
        const struct dataform_field *s = &submitted->fields[i];
        if (s->var == NULL)
            continue; /* a fixed field has nothing to submit */
        const struct dataform_field *o = dataform_find(offered, s->var);
        if (o == NULL) {
            /* §3.2: unknown fields are ignored unless the caller wants them refused. */
            if (strict && strcmp(s->var, "FORM_TYPE") != 0) {
                *why = "unknown field";
                return YB_EINVAL;
            }
            continue;
        }
        /* The offered field's type is the authority; submissions may omit types. */
        if ((*why = check_values(o->type, s->values, s->n_values)) != NULL)
            return YB_EINVAL;
        if (o->type == FIELD_LIST_SINGLE || o->type == FIELD_LIST_MULTI) {
            for (size_t v = 0; v < s->n_values; v++) {
                if (s->values[v][0] != '\0' && !is_option(o, s->values[v])) {
                    *why = "value is not one of the options";
                    return YB_EINVAL;
                }
            }
        }
    }
    return 0;
}

/* Adds <instructions/> per line of text (§3.1 allows several). */
static int
add_instructions(struct xml_node *x, const char *text)
{
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        struct xml_node *el = node_add_child(x, "instructions", NS_DATA);
        if (el == NULL || (len > 0 && node_add_text(el, p, len) != 0))
            return YB_ENOMEM;
        if (nl == NULL)
            return 0;
        p = nl + 1;
    }
}

static int
add_field_xml(struct xml_node *x, const struct dataform_field *fl)
{
    struct xml_node *el = node_add_child(x, "field", NS_DATA);
    if (el == NULL || node_set_attr(el, "type", field_type_names[fl->type]) != 0)
        return YB_ENOMEM;
    if (fl->var != NULL && node_set_attr(el, "var", fl->var) != 0)
        return YB_ENOMEM;
    if (fl->label != NULL && node_set_attr(el, "label", fl->label) != 0)
        return YB_ENOMEM;
    if (fl->desc != NULL && node_add_text_child(el, "desc", NS_DATA, fl->desc) == NULL)
        return YB_ENOMEM;
    if (fl->required && node_add_child(el, "required", NS_DATA) == NULL)
        return YB_ENOMEM;
    for (size_t i = 0; i < fl->n_values; i++)
        if (node_add_text_child(el, "value", NS_DATA, fl->values[i]) == NULL)
            return YB_ENOMEM;
    for (size_t i = 0; i < fl->n_options; i++) {
        struct xml_node *o = node_add_child(el, "option", NS_DATA);
        if (o == NULL || node_add_text_child(o, "value", NS_DATA, fl->options[i].value) == NULL)
            return YB_ENOMEM;
        if (fl->options[i].label != NULL && node_set_attr(o, "label", fl->options[i].label) != 0)
            return YB_ENOMEM;
    }
    return 0;
}

struct xml_node *
dataform_to_xml(const struct dataform *f, struct xml_node *parent)
{
    struct xml_node *x = node_add_child(parent, "x", NS_DATA);
    if (x == NULL || node_set_attr(x, "type", form_type_names[f->type]) != 0)
        goto fail;
    if (f->title != NULL && node_add_text_child(x, "title", NS_DATA, f->title) == NULL)
        goto fail;
    if (f->instructions != NULL && add_instructions(x, f->instructions) != 0)
        goto fail;
    for (size_t i = 0; i < f->n_fields; i++)
        if (add_field_xml(x, &f->fields[i]) != 0)
            goto fail;
    return x;
fail:
    /* Don't leave half a form behind in the caller's stanza. */
    if (x != NULL)
        node_remove(x);
    return NULL;
}
