/* SPDX-License-Identifier: MIT
 *
 * xmlrpc.h: XML-RPC values, calls and responses (the XML-RPC specification, carried
 * by XEP-0009 Jabber-RPC inside <query xmlns='jabber:iq:rpc'/>). Decoding is strict:
 * unknown elements, stray text, out-of-range integers, malformed doubles, dates or
 * base64 are refused, and nesting is bounded by XMLRPC_MAX_DEPTH. The XML elements
 * carry the namespace of the enclosing element (jabber:iq:rpc in XEP-0009). No
 * sockets; fuzzed directly. Propagates OOM (NULL / YB_ENOMEM).
 */
#ifndef YB_PROTO_XMLRPC_H
#define YB_PROTO_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stanza.h"

#define NS_RPC "jabber:iq:rpc"

/* Values nested deeper than this are refused (the outermost <value/> is depth 1).
 * Each level costs three XML elements, so this stays within the stream parser's
 * element depth limit and is the limit that applies to Jabber-RPC calls. */
#define XMLRPC_MAX_DEPTH 16

/* Conventional fault codes (the xmlrpc-epi "specification for fault code
 * interoperability", used by most XML-RPC servers). */
#define XMLRPC_FAULT_PARSE          (-32700)
#define XMLRPC_FAULT_INVALID        (-32600) /* not a valid methodCall */
#define XMLRPC_FAULT_NO_METHOD      (-32601)
#define XMLRPC_FAULT_INVALID_PARAMS (-32602)
#define XMLRPC_FAULT_INTERNAL       (-32603)
#define XMLRPC_FAULT_APPLICATION    (-32500)

enum xmlrpc_type {
    XMLRPC_INT, /* <i4/> or <int/>: 32-bit signed */
    XMLRPC_BOOLEAN,
    XMLRPC_STRING,
    XMLRPC_DOUBLE,
    XMLRPC_DATETIME, /* <dateTime.iso8601/>, kept as its (validated) text */
    XMLRPC_BASE64,   /* the decoded bytes */
    XMLRPC_ARRAY,
    XMLRPC_STRUCT,
};

struct xmlrpc_value {
    enum xmlrpc_type type;
    int32_t i;
    bool b;
    double d;
    char *str;  /* STRING, DATETIME, BASE64: NUL-terminated (BASE64 may hold NULs) */
    size_t len; /* bytes in str */
    /* ARRAY: items; STRUCT: members, names[k] naming items[k] (names unique). */
    struct xmlrpc_value **items;
    char **names;
    size_t n_items;
};

/* Constructors. Each returns a new value (xmlrpc_value_free), or NULL on OOM.
 * xmlrpc_datetime_new also returns NULL when iso is not an XML-RPC dateTime
 * ("19980717T14:08:55", optionally followed by "Z" or "+hh:mm"/"-hh:mm");
 * xmlrpc_double_new when d is not finite. */
struct xmlrpc_value *xmlrpc_int_new(int32_t i);
struct xmlrpc_value *xmlrpc_bool_new(bool b);
struct xmlrpc_value *xmlrpc_double_new(double d);
struct xmlrpc_value *xmlrpc_string_new(const char *s);
struct xmlrpc_value *xmlrpc_stringn_new(const char *s, size_t len);
struct xmlrpc_value *xmlrpc_datetime_new(const char *iso);
struct xmlrpc_value *xmlrpc_base64_new(const void *data, size_t len);
struct xmlrpc_value *xmlrpc_array_new(void);
struct xmlrpc_value *xmlrpc_struct_new(void);
/* Accepts NULL. Frees nested values too. */
void xmlrpc_value_free(struct xmlrpc_value *v);

/* Appends item to an array. Consumes: item (also on failure). Returns 0 or YB_ENOMEM. */
int xmlrpc_array_append(struct xmlrpc_value *array, struct xmlrpc_value *item);
/* Sets member name of a struct, replacing an old one. Consumes: value (also on
 * failure). Returns 0 or YB_ENOMEM. */
int xmlrpc_struct_set(struct xmlrpc_value *st, const char *name, struct xmlrpc_value *value);
/* Borrowed: the member named name, or NULL. */
const struct xmlrpc_value *xmlrpc_struct_get(const struct xmlrpc_value *st, const char *name);
/* Deep equality (doubles compared exactly). */
bool xmlrpc_value_equal(const struct xmlrpc_value *a, const struct xmlrpc_value *b);
/* "int", "boolean", "string", ... as in the XML element names. */
const char *xmlrpc_type_name(enum xmlrpc_type t);

/* A decoded <methodCall/>. */
struct xmlrpc_call {
    char *method;
    struct xmlrpc_value *params; /* an ARRAY, empty when there were no params */
};
/* Accepts NULL. */
void xmlrpc_call_free(struct xmlrpc_call *c);

/* Decodes a <methodCall/> element. Returns 0 with *out set (xmlrpc_call_free),
 * YB_EINVAL with *why set to static text naming the problem, or YB_ENOMEM. */
int xmlrpc_call_parse(const struct xml_node *method_call, struct xmlrpc_call **out,
                      const char **why);
/* Decodes a <methodResponse/>: on success *result is set (a new value) and
 * *fault_string NULL; for a fault, *result is NULL, *fault_code and *fault_string
 * (yb_free) are set. Returns 0, YB_EINVAL (with *why), or YB_ENOMEM. */
int xmlrpc_response_parse(const struct xml_node *response, struct xmlrpc_value **result,
                          int32_t *fault_code, char **fault_string, const char **why);

/* Appends <methodCall/> (params may be NULL or an ARRAY of parameters) to parent, in
 * parent's namespace. Returns: the element, or NULL on OOM or a non-ARRAY params. */
struct xml_node *xmlrpc_call_to_xml(struct xml_node *parent, const char *method,
                                    const struct xmlrpc_value *params);
/* Appends <methodResponse><params><param>result</param></params></methodResponse>.
 * Returns: the element, or NULL on OOM. */
struct xml_node *xmlrpc_response_to_xml(struct xml_node *parent, const struct xmlrpc_value *result);
/* Appends <methodResponse><fault> with the struct {faultCode, faultString}.
 * Returns: the element, or NULL on OOM. */
struct xml_node *xmlrpc_fault_to_xml(struct xml_node *parent, int32_t code, const char *text);
/* Appends <value/> for v. Returns: the element, or NULL on OOM. */
struct xml_node *xmlrpc_value_to_xml(struct xml_node *parent, const struct xmlrpc_value *v);

#endif
