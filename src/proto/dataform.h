/* SPDX-License-Identifier: MIT
 *
 * dataform.h: XEP-0004 Data Forms: parsing <x xmlns='jabber:x:data'/>, building
 * forms, and validating a submitted form against the form that was offered (required
 * fields, field types, options). Used by registration, ad-hoc commands, service
 * discovery extensions and, later, MUC and pubsub configuration. No sockets; fuzzed
 * directly. Propagates OOM (NULL / YB_ENOMEM).
 */
#ifndef YB_PROTO_DATAFORM_H
#define YB_PROTO_DATAFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "stanza.h"

#define NS_DATA "jabber:x:data"

enum dataform_type { DATAFORM_FORM, DATAFORM_SUBMIT, DATAFORM_CANCEL, DATAFORM_RESULT };

enum dataform_field_type {
    FIELD_BOOLEAN,
    FIELD_FIXED,
    FIELD_HIDDEN,
    FIELD_JID_MULTI,
    FIELD_JID_SINGLE,
    FIELD_LIST_MULTI,
    FIELD_LIST_SINGLE,
    FIELD_TEXT_MULTI,
    FIELD_TEXT_PRIVATE,
    FIELD_TEXT_SINGLE,
};

struct dataform_option {
    char *label; /* may be NULL */
    char *value;
};

struct dataform_field {
    char *var; /* NULL only for fixed fields */
    char *label;
    char *desc;
    enum dataform_field_type type; /* text-single when the element had no type */
    bool required;
    char **values;
    size_t n_values;
    struct dataform_option *options;
    size_t n_options;
};

struct dataform {
    enum dataform_type type;
    char *title;
    char *instructions; /* several <instructions/> joined with newlines */
    struct dataform_field *fields;
    size_t n_fields;
};

/* Returns: a new empty form or NULL on OOM. */
struct dataform *dataform_new(enum dataform_type type);
/* Accepts NULL. */
void dataform_free(struct dataform *f);
/* Sets the title/instructions (copied). Returns 0 or YB_ENOMEM. */
int dataform_set_title(struct dataform *f, const char *title);
int dataform_set_instructions(struct dataform *f, const char *text);
/* Adds a field (var and label copied; either may be NULL). Returns: borrowed field,
 * valid until the next dataform_add_field() on f; NULL on OOM. */
struct dataform_field *dataform_add_field(struct dataform *f, enum dataform_field_type type,
                                          const char *var, const char *label);
/* Adds the hidden FORM_TYPE field (XEP-0068) with value ns. Returns 0 or YB_ENOMEM. */
int dataform_set_form_type(struct dataform *f, const char *ns);
/* Returns 0 or YB_ENOMEM. */
int dataform_field_add_value(struct dataform_field *fl, const char *value);
int dataform_field_add_option(struct dataform_field *fl, const char *label, const char *value);

/* Borrowed: the field named var, or NULL. */
struct dataform_field *dataform_find(const struct dataform *f, const char *var);
/* Borrowed: the first value of var, or NULL when absent or empty. */
const char *dataform_value(const struct dataform *f, const char *var);
/* Borrowed: the value of the FORM_TYPE field, or NULL. */
const char *dataform_form_type(const struct dataform *f);
/* XEP-0004 §3.3 booleans: "1"/"true" and "0"/"false". Returns false when s is none
 * of those (out untouched). */
bool dataform_parse_bool(const char *s, bool *out);

/* Parses an <x xmlns='jabber:x:data'/> element. Returns: a new form, or NULL with
 * *why set to a static description (malformed: unknown form or field type, field
 * without var, several values in a single-valued field, ...) or to "out of memory". */
struct dataform *dataform_parse(const struct xml_node *x, const char **why);
/* Checks a submitted form against the form that was offered: every required field
 * has a value, values fit their field's type (booleans, JIDs, list-single/multi
 * values among the options, one value for single-valued types), and no unknown
 * fields when strict. Returns 0, or YB_EINVAL with *why set (static text naming the
 * problem), or YB_ENOMEM. */
int dataform_validate(const struct dataform *submitted, const struct dataform *offered, bool strict,
                      const char **why);
/* Appends the form as <x xmlns='jabber:x:data'/> to parent. Returns: the new
 * element, or NULL on OOM. */
struct xml_node *dataform_to_xml(const struct dataform *f, struct xml_node *parent);

#endif
