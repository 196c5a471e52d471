/* SPDX-License-Identifier: MIT
 *
 * xmlrpc.c: XML-RPC codec for XEP-0009 Jabber-RPC. Owns the value tree, the strict
 * decoder of <methodCall/> and <methodResponse/> elements and their encoder. It does
 * not know about iqs, accounts or methods (that is mod_rpc.c). Follows the XML-RPC
 * specification (scalars, <struct/>, <array/>, <fault/>), with two common extensions
 * accepted on input: exponents in <double/> and the extended date form
 * "1998-07-17T14:08:55" (both noted in the header).
 */
#include "xmlrpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "base64.h"
#include "buf.h"
#include "error.h"

/* ---- values ---- */

static struct xmlrpc_value *
value_new(enum xmlrpc_type t)
{
    struct xmlrpc_value *v = yb_calloc(1, sizeof *v);
    if (v != NULL)
        v->type = t;
    return v;
}

struct xmlrpc_value *
xmlrpc_int_new(int32_t i)
{
    struct xmlrpc_value *v = value_new(XMLRPC_INT);
    if (v != NULL)
        v->i = i;
    return v;
}

struct xmlrpc_value *
xmlrpc_bool_new(bool b)
{
    struct xmlrpc_value *v = value_new(XMLRPC_BOOLEAN);
    if (v != NULL)
        v->b = b;
    return v;
}

struct xmlrpc_value *
xmlrpc_double_new(double d)
{
    if (!isfinite(d))
        return NULL; /* XML-RPC has no spelling for infinities or NaN */
    struct xmlrpc_value *v = value_new(XMLRPC_DOUBLE);
    if (v != NULL)
        v->d = d;
    return v;
}

static struct xmlrpc_value *
bytes_value_new(enum xmlrpc_type t, const void *data, size_t len)
{
    struct xmlrpc_value *v = value_new(t);
    if (v == NULL)
        return NULL;
    v->str = yb_malloc(len + 1);
    if (v->str == NULL) {
        yb_free(v);
        return NULL;
    }
    if (len > 0)
        memcpy(v->str, data, len);
    v->str[len] = '\0';
    v->len = len;
    return v;
}

struct xmlrpc_value *
xmlrpc_stringn_new(const char *s, size_t len)
{
    return bytes_value_new(XMLRPC_STRING, s, len);
}

struct xmlrpc_value *
xmlrpc_string_new(const char *s)
{
    return bytes_value_new(XMLRPC_STRING, s, strlen(s));
}

struct xmlrpc_value *
xmlrpc_base64_new(const void *data, size_t len)
{
    return bytes_value_new(XMLRPC_BASE64, data, len);
}

static bool
digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int
num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* "19980717T14:08:55" or "1998-07-17T14:08:55", then optionally "Z", "+hh:mm",
 * "-hh:mm" or "+hhmm". */
static bool
datetime_valid(const char *s)
{
    size_t n = strlen(s);
    size_t date_len;
    int month, day;
    if (n >= 10 && s[4] == '-' && s[7] == '-') {
        if (!digits(s, 4) || !digits(s + 5, 2) || !digits(s + 8, 2))
            return false;
        month = num2(s + 5);
        day = num2(s + 8);
        date_len = 10;
    } else if (n >= 8 && digits(s, 8)) {
        month = num2(s + 4);
        day = num2(s + 6);
        date_len = 8;
    } else {
        return false;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31)
        return false;
    const char *t = s + date_len;
    if (strlen(t) < 9 || t[0] != 'T' || !digits(t + 1, 2) || t[3] != ':' || !digits(t + 4, 2) ||
        t[6] != ':' || !digits(t + 7, 2))
        return false;
    if (num2(t + 1) > 23 || num2(t + 4) > 59 || num2(t + 7) > 60)
        return false;
    const char *z = t + 9;
    if (*z == '\0')
        return true;
    if (strcmp(z, "Z") == 0)
        return true;
    if (*z != '+' && *z != '-')
        return false;
    z++;
    if (strlen(z) == 5 && digits(z, 2) && z[2] == ':' && digits(z + 3, 2))
        return num2(z) <= 23 && num2(z + 3) <= 59;
    if (strlen(z) == 4 && digits(z, 4))
        return num2(z) <= 23 && num2(z + 2) <= 59;
    return false;
}

struct xmlrpc_value *
xmlrpc_datetime_new(const char *iso)
{
    if (!datetime_valid(iso))
        return NULL;
    return bytes_value_new(XMLRPC_DATETIME, iso, strlen(iso));
}

struct xmlrpc_value *
xmlrpc_array_new(void)
{
    return value_new(XMLRPC_ARRAY);
}

struct xmlrpc_value *
xmlrpc_struct_new(void)
{
    return value_new(XMLRPC_STRUCT);
}

void
xmlrpc_value_free(struct xmlrpc_value *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_items; i++) {
        xmlrpc_value_free(v->items[i]);
        if (v->names != NULL)
            yb_free(v->names[i]);
    }
    yb_free(v->items);
    yb_free(v->names);
    yb_free(v->str);
    yb_free(v);
}

/* Makes room for one more item (and name, for structs). */
static int
grow(struct xmlrpc_value *v)
{
    struct xmlrpc_value **items = yb_realloc(v->items, (v->n_items + 1) * sizeof *items);
    if (items == NULL)
        return YB_ENOMEM;
    v->items = items;
    if (v->type == XMLRPC_STRUCT) {
        char **names = yb_realloc(v->names, (v->n_items + 1) * sizeof *names);
        if (names == NULL)
            return YB_ENOMEM;
        v->names = names;
    }
    return 0;
}

int
xmlrpc_array_append(struct xmlrpc_value *array, struct xmlrpc_value *item)
{
    if (array->type != XMLRPC_ARRAY) {
        xmlrpc_value_free(item);
        return YB_EINVAL;
    }
    if (item == NULL || grow(array) != 0) {
        xmlrpc_value_free(item);
        return YB_ENOMEM;
    }
    array->items[array->n_items++] = item;
    return 0;
}

int
xmlrpc_struct_set(struct xmlrpc_value *st, const char *name, struct xmlrpc_value *value)
{
    if (st->type != XMLRPC_STRUCT || value == NULL) {
        xmlrpc_value_free(value);
        return value == NULL ? YB_ENOMEM : YB_EINVAL;
    }
    for (size_t i = 0; i < st->n_items; i++) {
        if (strcmp(st->names[i], name) == 0) {
            xmlrpc_value_free(st->items[i]);
            st->items[i] = value;
            return 0;
        }
    }
    char *copy = yb_strdup(name);
    if (copy == NULL || grow(st) != 0) {
        yb_free(copy);
        xmlrpc_value_free(value);
        return YB_ENOMEM;
    }
    st->names[st->n_items] = copy;
    st->items[st->n_items++] = value;
    return 0;
}

const struct xmlrpc_value *
xmlrpc_struct_get(const struct xmlrpc_value *st, const char *name)
{
    if (st == NULL || st->type != XMLRPC_STRUCT)
        return NULL;
    for (size_t i = 0; i < st->n_items; i++)
        if (strcmp(st->names[i], name) == 0)
            return st->items[i];
    return NULL;
}

bool
xmlrpc_value_equal(const struct xmlrpc_value *a, const struct xmlrpc_value *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case XMLRPC_INT:
        return a->i == b->i;
    case XMLRPC_BOOLEAN:
        return a->b == b->b;
    case XMLRPC_DOUBLE:
        return a->d == b->d;
    case XMLRPC_STRING:
    case XMLRPC_DATETIME:
    case XMLRPC_BASE64:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case XMLRPC_ARRAY:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!xmlrpc_value_equal(a->items[i], b->items[i]))
                return false;
        return true;
    case XMLRPC_STRUCT:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!xmlrpc_value_equal(a->items[i], xmlrpc_struct_get(b, a->names[i])))
                return false;
        return true;
    }
    return false;
}

const char *
xmlrpc_type_name(enum xmlrpc_type t)
{
    switch (t) {
    case XMLRPC_INT:
        return "int";
    case XMLRPC_BOOLEAN:
        return "boolean";
    case XMLRPC_STRING:
        return "string";
    case XMLRPC_DOUBLE:
        return "double";
    case XMLRPC_DATETIME:
        return "dateTime.iso8601";
    case XMLRPC_BASE64:
        return "base64";
    case XMLRPC_ARRAY:
        return "array";
    case XMLRPC_STRUCT:
        return "struct";
    }
    return "?";
}

void
xmlrpc_call_free(struct xmlrpc_call *c)
{
    if (c == NULL)
        return;
    yb_free(c->method);
    xmlrpc_value_free(c->params);
    yb_free(c);
}

/* ---- decoding ---- */

#define FAIL(msg)                                                                                  \
    do {                                                                                           \
        *why = (msg);                                                                              \
        return YB_EINVAL;                                                                          \
    } while (0)

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
text_is_space(const struct xml_node *t)
{
    for (size_t i = 0; i < t->text_len; i++)
        if (!is_space(t->text[i]))
            return false;
    return true;
}

static bool
is_named(const struct xml_node *n, const char *name)
{
    return n != NULL && strcmp(n->name, name) == 0;
}

/* n may hold only elements of namespace ns, and whitespace between them. */
static int
check_elements_only(const struct xml_node *n, const char *ns, const char **why)
{
    for (const struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (c->kind == XML_TEXT) {
            if (!text_is_space(c))
                FAIL("unexpected text between elements");
        } else if (strcmp(c->ns, ns) != 0) {
            FAIL("element in a foreign namespace");
        }
    }
    return 0;
}

/* n may hold only text. *text: borrowed. */
static int
get_text_only(const struct xml_node *n, const char **text, const char **why)
{
    if (node_first_element(n) != NULL)
        FAIL("element inside a scalar");
    *text = node_text(n);
    return *text == NULL ? YB_ENOMEM : 0;
}

static int
parse_int32(const char *s, int32_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (*p == '\0')
        return YB_EINVAL;
    int64_t v = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return YB_EINVAL;
        v = v * 10 + (*p - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return YB_EINVAL;
    }
    if (neg)
        v = -v;
    if (v > INT32_MAX || v < INT32_MIN)
        return YB_EINVAL;
    *out = (int32_t)v;
    return 0;
}

/* [+-]? (digits ('.' digits?)? | '.' digits) ([eE] [+-]? digits)? */
static int
parse_double(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t int_digits = 0, frac_digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, int_digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, frac_digits++;
    }
    if (int_digits + frac_digits == 0)
        return YB_EINVAL;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        size_t exp_digits = 0;
        while (*p >= '0' && *p <= '9')
            p++, exp_digits++;
        if (exp_digits == 0)
            return YB_EINVAL;
    }
    if (*p != '\0')
        return YB_EINVAL;
    double d = strtod(s, NULL);
    if (!isfinite(d))
        return YB_EINVAL;
    *out = d;
    return 0;
}

static int parse_value(const struct xml_node *value, const char *ns, int depth,
                       struct xmlrpc_value **out, const char **why);

/* RFC 4648 §4 with padding, checked here so that a NULL from base64_decode() can
 * only mean out of memory. */
static bool
base64_valid(const char *s, size_t n)
{
    if (n % 4 != 0)
        return false;
    size_t pad = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

static int
parse_base64(const char *text, struct xmlrpc_value **out, const char **why)
{
    /* Encoders commonly wrap base64 in lines; the alphabet has no whitespace, so
     * dropping it is unambiguous. */
    struct buf b = BUF_INIT;
    for (const char *p = text; *p != '\0'; p++) {
        if (!is_space(*p) && buf_putc(&b, *p) != 0) {
            buf_fini(&b);
            return YB_ENOMEM;
        }
    }
    if (b.len == 0) {
        *out = xmlrpc_base64_new("", 0);
        return *out == NULL ? YB_ENOMEM : 0;
    }
    if (!base64_valid(b.data, b.len)) {
        buf_fini(&b);
        FAIL("malformed base64");
    }
    size_t len;
    unsigned char *bytes = base64_decode(b.data, b.len, &len);
    buf_fini(&b);
    if (bytes == NULL)
        return YB_ENOMEM;
    *out = xmlrpc_base64_new(bytes, len);
    yb_free(bytes);
    return *out == NULL ? YB_ENOMEM : 0;
}

static int
parse_array(const struct xml_node *array, const char *ns, int depth, struct xmlrpc_value **out,
            const char **why)
{
    int rc = check_elements_only(array, ns, why);
    if (rc != 0)
        return rc;
    const struct xml_node *data = node_first_element(array);
    if (!is_named(data, "data") || node_next_element(data) != NULL)
        FAIL("<array/> must hold one <data/>");
    if ((rc = check_elements_only(data, ns, why)) != 0)
        return rc;
    struct xmlrpc_value *a = xmlrpc_array_new();
    if (a == NULL)
        return YB_ENOMEM;
    for (const struct xml_node *c = node_first_element(data); c != NULL; c = node_next_element(c)) {
        struct xmlrpc_value *item;
        if (!is_named(c, "value")) {
            *why = "<data/> may hold only <value/>s";
            rc = YB_EINVAL;
        } else {
            rc = parse_value(c, ns, depth + 1, &item, why);
            if (rc == 0)
                rc = xmlrpc_array_append(a, item);
        }
        if (rc != 0) {
            xmlrpc_value_free(a);
            return rc;
        }
    }
    *out = a;
    return 0;
}

static int
parse_member(const struct xml_node *member, const char *ns, int depth, struct xmlrpc_value *st,
             const char **why)
{
    if (!is_named(member, "member"))
        FAIL("<struct/> may hold only <member/>s");
    int rc = check_elements_only(member, ns, why);
    if (rc != 0)
        return rc;
    const struct xml_node *name = node_first_element(member);
    const struct xml_node *value = name ? node_next_element(name) : NULL;
    if (!is_named(name, "name") || !is_named(value, "value") || node_next_element(value) != NULL)
        FAIL("<member/> must hold <name/> then <value/>");
    const char *key;
    if ((rc = get_text_only(name, &key, why)) != 0)
        return rc;
    if (xmlrpc_struct_get(st, key) != NULL)
        FAIL("duplicate struct member");
    struct xmlrpc_value *v;
    if ((rc = parse_value(value, ns, depth + 1, &v, why)) != 0)
        return rc;
    return xmlrpc_struct_set(st, key, v);
}

static int
parse_struct(const struct xml_node *stn, const char *ns, int depth, struct xmlrpc_value **out,
             const char **why)
{
    int rc = check_elements_only(stn, ns, why);
    if (rc != 0)
        return rc;
    struct xmlrpc_value *st = xmlrpc_struct_new();
    if (st == NULL)
        return YB_ENOMEM;
    for (const struct xml_node *c = node_first_element(stn); c != NULL; c = node_next_element(c)) {
        if ((rc = parse_member(c, ns, depth, st, why)) != 0) {
            xmlrpc_value_free(st);
            return rc;
        }
    }
    *out = st;
    return 0;
}

static int
parse_value(const struct xml_node *value, const char *ns, int depth, struct xmlrpc_value **out,
            const char **why)
{
    if (depth > XMLRPC_MAX_DEPTH)
        FAIL("values nested too deeply");
    const struct xml_node *t = node_first_element(value);
    const char *text;
    int rc;
    if (t == NULL) {
        /* XML-RPC: a <value/> without a type element is a string. */
        if ((rc = get_text_only(value, &text, why)) != 0)
            return rc;
        *out = xmlrpc_string_new(text);
        return *out == NULL ? YB_ENOMEM : 0;
    }
    if ((rc = check_elements_only(value, ns, why)) != 0)
        return rc;
    if (node_next_element(t) != NULL)
        FAIL("<value/> holds more than one element");
    if (strcmp(t->name, "array") == 0)
        return parse_array(t, ns, depth, out, why);
    if (strcmp(t->name, "struct") == 0)
        return parse_struct(t, ns, depth, out, why);
    if ((rc = get_text_only(t, &text, why)) != 0)
        return rc;
    if (strcmp(t->name, "int") == 0 || strcmp(t->name, "i4") == 0) {
        int32_t i;
        if (parse_int32(text, &i) != 0)
            FAIL("malformed or out-of-range int");
        *out = xmlrpc_int_new(i);
    } else if (strcmp(t->name, "boolean") == 0) {
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
            FAIL("boolean must be 0 or 1");
        *out = xmlrpc_bool_new(text[0] == '1');
    } else if (strcmp(t->name, "string") == 0) {
        *out = xmlrpc_string_new(text);
    } else if (strcmp(t->name, "double") == 0) {
        double d;
        if (parse_double(text, &d) != 0)
            FAIL("malformed double");
        *out = xmlrpc_double_new(d);
    } else if (strcmp(t->name, "dateTime.iso8601") == 0) {
        if (!datetime_valid(text))
            FAIL("malformed dateTime.iso8601");
        *out = xmlrpc_datetime_new(text);
    } else if (strcmp(t->name, "base64") == 0) {
        return parse_base64(text, out, why);
    } else {
        FAIL("unknown value type");
    }
    return *out == NULL ? YB_ENOMEM : 0;
}

/* XML-RPC: method names are letters, digits, '_', '.', ':' and '/'. */
static bool
method_name_valid(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '/'))
            return false;
    }
    return true;
}

/* <param><value/></param>: the value. */
static int
parse_param(const struct xml_node *param, const char *ns, struct xmlrpc_value **out,
            const char **why)
{
    if (!is_named(param, "param"))
        FAIL("<params/> may hold only <param/>s");
    int rc = check_elements_only(param, ns, why);
    if (rc != 0)
        return rc;
    const struct xml_node *v = node_first_element(param);
    if (!is_named(v, "value") || node_next_element(v) != NULL)
        FAIL("<param/> must hold one <value/>");
    return parse_value(v, ns, 1, out, why);
}

int
xmlrpc_call_parse(const struct xml_node *mc, struct xmlrpc_call **out, const char **why)
{
    const char *ns = mc->ns;
    if (!is_named(mc, "methodCall"))
        FAIL("not a <methodCall/>");
    int rc = check_elements_only(mc, ns, why);
    if (rc != 0)
        return rc;
    const struct xml_node *name = node_first_element(mc);
    const struct xml_node *params = name ? node_next_element(name) : NULL;
    if (!is_named(name, "methodName"))
        FAIL("<methodCall/> must start with <methodName/>");
    if (params != NULL && (!is_named(params, "params") || node_next_element(params) != NULL))
        FAIL("<methodCall/> may hold only <methodName/> and <params/>");
    const char *method;
    if ((rc = get_text_only(name, &method, why)) != 0)
        return rc;
    if (!method_name_valid(method))
        FAIL("malformed method name");
    struct xmlrpc_call *c = yb_calloc(1, sizeof *c);
    if (c == NULL)
        return YB_ENOMEM;
    c->method = yb_strdup(method);
    c->params = xmlrpc_array_new();
    if (c->method == NULL || c->params == NULL) {
        xmlrpc_call_free(c);
        return YB_ENOMEM;
    }
    if (params != NULL && (rc = check_elements_only(params, ns, why)) != 0) {
        xmlrpc_call_free(c);
        return rc;
    }
    for (const struct xml_node *p = params ? node_first_element(params) : NULL; p != NULL;
         p = node_next_element(p)) {
        struct xmlrpc_value *v;
        rc = parse_param(p, ns, &v, why);
        if (rc == 0)
            rc = xmlrpc_array_append(c->params, v);
        if (rc != 0) {
            xmlrpc_call_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

int
xmlrpc_response_parse(const struct xml_node *r, struct xmlrpc_value **result, int32_t *fault_code,
                      char **fault_string, const char **why)
{
    const char *ns = r->ns;
    *result = NULL;
    *fault_string = NULL;
    if (!is_named(r, "methodResponse"))
        FAIL("not a <methodResponse/>");
    int rc = check_elements_only(r, ns, why);
    if (rc != 0)
        return rc;
    const struct xml_node *c = node_first_element(r);
    if (c == NULL || node_next_element(c) != NULL)
        FAIL("<methodResponse/> must hold <params/> or <fault/>");
    if ((rc = check_elements_only(c, ns, why)) != 0)
        return rc;
    const struct xml_node *inner = node_first_element(c);
    if (is_named(c, "params")) {
        /* XML-RPC: a response carries exactly one parameter. */
        if (inner == NULL || node_next_element(inner) != NULL)
            FAIL("<methodResponse/> must carry one <param/>");
        return parse_param(inner, ns, result, why);
    }
    if (!is_named(c, "fault"))
        FAIL("<methodResponse/> must hold <params/> or <fault/>");
    if (!is_named(inner, "value") || node_next_element(inner) != NULL)
        FAIL("<fault/> must hold one <value/>");
    struct xmlrpc_value *v;
    if ((rc = parse_value(inner, ns, 1, &v, why)) != 0)
        return rc;
    const struct xmlrpc_value *code = xmlrpc_struct_get(v, "faultCode");
    const struct xmlrpc_value *text = xmlrpc_struct_get(v, "faultString");
    if (code == NULL || code->type != XMLRPC_INT || text == NULL || text->type != XMLRPC_STRING ||
        v->n_items != 2) {
        xmlrpc_value_free(v);
        FAIL("a fault is a struct of faultCode (int) and faultString (string)");
    }
    *fault_code = code->i;
    *fault_string = yb_strdup(text->str);
    xmlrpc_value_free(v);
    return *fault_string == NULL ? YB_ENOMEM : 0;
}

/* ---- encoding ---- */

static struct xml_node *
add_text(struct xml_node *parent, const char *name, const char *text, size_t len)
{
    struct xml_node *n = node_add_child(parent, name, NULL);
    if (n != NULL && len > 0 && node_add_text(n, text, len) != 0)
        return NULL;
    return n;
}

struct xml_node *
xmlrpc_value_to_xml(struct xml_node *parent, const struct xmlrpc_value *v)
{
    struct xml_node *value = node_add_child(parent, "value", NULL);
    if (value == NULL)
        return NULL;
    char num[64];
    struct xml_node *ok = NULL;
    switch (v->type) {
    case XMLRPC_INT:
        snprintf(num, sizeof num, "%ld", (long)v->i);
        ok = add_text(value, "int", num, strlen(num));
        break;
    case XMLRPC_BOOLEAN:
        ok = add_text(value, "boolean", v->b ? "1" : "0", 1);
        break;
    case XMLRPC_DOUBLE:
        snprintf(num, sizeof num, "%.17g", v->d);
        ok = add_text(value, "double", num, strlen(num));
        break;
    case XMLRPC_STRING:
        ok = add_text(value, "string", v->str, v->len);
        break;
    case XMLRPC_DATETIME:
        ok = add_text(value, "dateTime.iso8601", v->str, v->len);
        break;
    case XMLRPC_BASE64: {
        char *b64 = base64_encode(v->str, v->len);
        if (b64 != NULL)
            ok = add_text(value, "base64", b64, strlen(b64));
        yb_free(b64);
        break;
    }
    case XMLRPC_ARRAY: {
        struct xml_node *data = node_add_child(node_add_child(value, "array", NULL), "data", NULL);
        ok = data;
        for (size_t i = 0; ok != NULL && i < v->n_items; i++)
            ok = xmlrpc_value_to_xml(data, v->items[i]);
        break;
    }
    case XMLRPC_STRUCT: {
        struct xml_node *st = node_add_child(value, "struct", NULL);
        ok = st;
        for (size_t i = 0; ok != NULL && i < v->n_items; i++) {
            struct xml_node *m = node_add_child(st, "member", NULL);
            ok = m ? add_text(m, "name", v->names[i], strlen(v->names[i])) : NULL;
            if (ok != NULL)
                ok = xmlrpc_value_to_xml(m, v->items[i]);
        }
        break;
    }
    }
    return ok ? value : NULL;
}

struct xml_node *
xmlrpc_call_to_xml(struct xml_node *parent, const char *method, const struct xmlrpc_value *params)
{
    if (params != NULL && params->type != XMLRPC_ARRAY)
        return NULL;
    struct xml_node *mc = node_add_child(parent, "methodCall", NULL);
    if (mc == NULL || add_text(mc, "methodName", method, strlen(method)) == NULL)
        return NULL;
    struct xml_node *ps = node_add_child(mc, "params", NULL);
    if (ps == NULL)
        return NULL;
    for (size_t i = 0; params != NULL && i < params->n_items; i++) {
        struct xml_node *p = node_add_child(ps, "param", NULL);
        if (p == NULL || xmlrpc_value_to_xml(p, params->items[i]) == NULL)
            return NULL;
    }
    return mc;
}

struct xml_node *
xmlrpc_response_to_xml(struct xml_node *parent, const struct xmlrpc_value *result)
{
    struct xml_node *r = node_add_child(parent, "methodResponse", NULL);
    struct xml_node *p =
        r ? node_add_child(node_add_child(r, "params", NULL), "param", NULL) : NULL;
    if (p == NULL || xmlrpc_value_to_xml(p, result) == NULL)
        return NULL;
    return r;
}

struct xml_node *
xmlrpc_fault_to_xml(struct xml_node *parent, int32_t code, const char *text)
{
    struct xmlrpc_value *st = xmlrpc_struct_new();
    if (st == NULL)
        return NULL;
    struct xml_node *r = NULL;
    if (xmlrpc_struct_set(st, "faultCode", xmlrpc_int_new(code)) == 0 &&
        xmlrpc_struct_set(st, "faultString", xmlrpc_string_new(text ? text : "")) == 0) {
        r = node_add_child(parent, "methodResponse", NULL);
        struct xml_node *f = r ? node_add_child(r, "fault", NULL) : NULL;
        if (f == NULL || xmlrpc_value_to_xml(f, st) == NULL)
            r = NULL;
    }
    xmlrpc_value_free(st);
    return r;
}
