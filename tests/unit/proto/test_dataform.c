/* SPDX-License-Identifier: MIT
 *
 * test_dataform.c: XEP-0004 data forms: building every field type, parsing well-formed
 * and malformed forms (§3.1-§3.3), validating submissions against the offered form,
 * the to_xml -> parse round trip, and allocation failure at every step.
 */
#include "test.h"

#include "alloc.h"
#include "dataform.h"
#include "error.h"

#define X_OPEN "<x xmlns='jabber:x:data' "

static struct stanza *
xml(const char *s)
{
    struct stanza *st = stanza_parse(s, strlen(s));
    if (st == NULL)
        abort();
    return st;
}

/* Parses s; returns the form (or NULL with *why set). */
static struct dataform *
parse(const char *s, const char **why)
{
    struct stanza *st = xml(s);
    struct dataform *f = dataform_parse(stanza_root(st), why);
    stanza_unref(st);
    return f;
}

static const char *
parse_error(const char *s)
{
    const char *why = NULL;
    struct dataform *f = parse(s, &why);
    if (f != NULL) {
        dataform_free(f);
        return NULL;
    }
    return why;
}

/* A registration-like form with one field of each type. */
static struct dataform *
sample_form(void)
{
    struct dataform *f = dataform_new(DATAFORM_FORM);
    if (f == NULL || dataform_set_title(f, "Sample") != 0 ||
        dataform_set_instructions(f, "line one\nline two") != 0)
        goto fail;
    struct dataform_field *fl;
    if ((fl = dataform_add_field(f, FIELD_FIXED, NULL, NULL)) == NULL ||
        dataform_field_add_value(fl, "Just text") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_TEXT_SINGLE, "username", "User")) == NULL)
        goto fail;
    fl->required = true;
    if ((fl = dataform_add_field(f, FIELD_TEXT_PRIVATE, "password", "Password")) == NULL)
        goto fail;
    fl->required = true;
    if ((fl = dataform_add_field(f, FIELD_BOOLEAN, "public", NULL)) == NULL ||
        dataform_field_add_value(fl, "0") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_JID_SINGLE, "owner", NULL)) == NULL)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_JID_MULTI, "admins", NULL)) == NULL ||
        dataform_field_add_value(fl, "a@example.org") != 0 ||
        dataform_field_add_value(fl, "b@example.org") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_LIST_SINGLE, "color", "Colour")) == NULL ||
        dataform_field_add_option(fl, "Red", "red") != 0 ||
        dataform_field_add_option(fl, NULL, "blue") != 0 ||
        dataform_field_add_value(fl, "red") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_LIST_MULTI, "features", NULL)) == NULL ||
        dataform_field_add_option(fl, NULL, "a") != 0 ||
        dataform_field_add_option(fl, NULL, "b") != 0 ||
        dataform_field_add_option(fl, NULL, "c") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_TEXT_MULTI, "bio", NULL)) == NULL ||
        dataform_field_add_value(fl, "first") != 0 || dataform_field_add_value(fl, "second") != 0)
        goto fail;
    if ((fl = dataform_add_field(f, FIELD_HIDDEN, "token", NULL)) == NULL ||
        dataform_field_add_value(fl, "xyz") != 0)
        goto fail;
    fl->desc = yb_strdup("a description");
    if (fl->desc == NULL || dataform_set_form_type(f, "urn:test:sample") != 0)
        goto fail;
    return f;
fail:
    dataform_free(f);
    return NULL;
}

static char *
to_string(const struct dataform *f)
{
    struct stanza *st = stanza_new("query", "urn:test");
    if (st == NULL)
        return NULL;
    char *s = NULL;
    if (dataform_to_xml(f, stanza_root(st)) != NULL)
        s = stanza_to_string(st);
    stanza_unref(st);
    return s;
}

TEST(build_and_query)
{
    struct dataform *f = sample_form();
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(f->n_fields, 11);
    ASSERT_STR_EQ(f->fields[0].var, "FORM_TYPE"); /* moved to the front */
    ASSERT_EQ(f->fields[0].type, FIELD_HIDDEN);
    ASSERT_STR_EQ(dataform_form_type(f), "urn:test:sample");
    ASSERT_STR_EQ(dataform_value(f, "color"), "red");
    ASSERT_NULL(dataform_value(f, "username")); /* no value */
    ASSERT_NULL(dataform_value(f, "nonexistent"));
    ASSERT_NOT_NULL(dataform_find(f, "features"));
    ASSERT_EQ(dataform_find(f, "features")->n_options, 3);
    /* Setting FORM_TYPE again replaces the value instead of adding a field. */
    ASSERT_EQ(dataform_set_form_type(f, "urn:test:other"), 0);
    ASSERT_EQ(f->n_fields, 11);
    ASSERT_STR_EQ(dataform_form_type(f), "urn:test:other");
    dataform_free(f);
    dataform_free(NULL);
}

TEST(parse_bool)
{
    bool b = false;
    ASSERT_TRUE(dataform_parse_bool("1", &b) && b);
    ASSERT_TRUE(dataform_parse_bool("0", &b) && !b);
    ASSERT_TRUE(dataform_parse_bool("true", &b) && b);
    ASSERT_TRUE(dataform_parse_bool("false", &b) && !b);
    b = true;
    ASSERT_FALSE(dataform_parse_bool("yes", &b));
    ASSERT_FALSE(dataform_parse_bool("TRUE", &b));
    ASSERT_FALSE(dataform_parse_bool("", &b));
    ASSERT_FALSE(dataform_parse_bool(NULL, &b));
    ASSERT_TRUE(b); /* untouched */
}

TEST(parse_all_types)
{
    const char *why = "unset";
    struct dataform *f = parse(
        X_OPEN "type='form'><title>T</title><instructions>one</instructions>"
               "<instructions>two</instructions>"
               "<field type='hidden' var='FORM_TYPE'><value>urn:x</value></field>"
               "<field type='fixed'><value>Section</value></field>"
               "<field type='boolean' var='b' label='B'><desc>d</desc><required/>"
               "<value>true</value></field>"
               "<field type='jid-single' var='js'><value>user@example.org/res</value></field>"
               "<field type='jid-multi' var='jm'><value>a@b</value><value>c@d</value></field>"
               "<field type='list-single' var='ls'><option label='One'><value>1</value></option>"
               "<option><value>2</value></option><value>2</value></field>"
               "<field type='list-multi' var='lm'><option><value>x</value></option>"
               "<value>x</value></field>"
               "<field type='text-multi' var='tm'><value>l1</value><value>l2</value></field>"
               "<field type='text-private' var='tp'><value>secret</value></field>"
               "<field var='ts'><value>plain</value><media xmlns='urn:xmpp:media-element'/></field>"
               "<reported><field var='r'/></reported>"
               "</x>",
        &why);
    ASSERT_NOT_NULL(f);
    ASSERT_NULL(why);
    ASSERT_EQ(f->type, DATAFORM_FORM);
    ASSERT_STR_EQ(f->title, "T");
    ASSERT_STR_EQ(f->instructions, "one\ntwo");
    ASSERT_EQ(f->n_fields, 10);
    ASSERT_STR_EQ(dataform_form_type(f), "urn:x");
    ASSERT_NULL(f->fields[1].var);
    ASSERT_EQ(f->fields[1].type, FIELD_FIXED);
    struct dataform_field *b = dataform_find(f, "b");
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(b->type, FIELD_BOOLEAN);
    ASSERT_TRUE(b->required);
    ASSERT_STR_EQ(b->label, "B");
    ASSERT_STR_EQ(b->desc, "d");
    ASSERT_EQ(dataform_find(f, "js")->type, FIELD_JID_SINGLE);
    ASSERT_EQ(dataform_find(f, "jm")->n_values, 2);
    struct dataform_field *ls = dataform_find(f, "ls");
    ASSERT_EQ(ls->type, FIELD_LIST_SINGLE);
    ASSERT_EQ(ls->n_options, 2);
    ASSERT_STR_EQ(ls->options[0].label, "One");
    ASSERT_STR_EQ(ls->options[0].value, "1");
    ASSERT_NULL(ls->options[1].label);
    ASSERT_EQ(dataform_find(f, "lm")->type, FIELD_LIST_MULTI);
    ASSERT_EQ(dataform_find(f, "tm")->type, FIELD_TEXT_MULTI);
    ASSERT_EQ(dataform_find(f, "tp")->type, FIELD_TEXT_PRIVATE);
    ASSERT_EQ(dataform_find(f, "ts")->type, FIELD_TEXT_SINGLE); /* default */
    ASSERT_NULL(dataform_find(f, "r"));                         /* <reported/> skipped */
    dataform_free(f);

    static const char *const types[] = {"form", "submit", "cancel", "result"};
    for (int i = 0; i < 4; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, X_OPEN "type='%s'/>", types[i]);
        f = parse(buf, &why);
        ASSERT_NOT_NULL(f);
        ASSERT_EQ(f->type, i);
        ASSERT_EQ(f->n_fields, 0);
        dataform_free(f);
    }
}

TEST(parse_malformed)
{
    ASSERT_NOT_NULL(parse_error("<x xmlns='jabber:x:other' type='form'/>"));
    ASSERT_NOT_NULL(parse_error("<y xmlns='jabber:x:data' type='form'/>"));
    ASSERT_STR_EQ(parse_error(X_OPEN "/>"), "form without type");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='bogus'/>"), "unknown form type");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='colour' var='a'/></x>"),
                  "unknown field type");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='boolean'/></x>"),
                  "field without var");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='submit'><field><value>x</value></field></x>"),
                  "field without var");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field var='a'/><field var='a'/></x>"),
                  "duplicate field var");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='text-single' var='a'>"
                                     "<value>1</value><value>2</value></field></x>"),
                  "several values in a single-valued field");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='list-single' var='a'>"
                                     "<value>1</value><value>2</value></field></x>"),
                  "several values in a single-valued field");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='boolean' var='a'>"
                                     "<value>yes</value></field></x>"),
                  "invalid boolean value");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='jid-single' var='a'>"
                                     "<value>not@a@jid</value></field></x>"),
                  "invalid JID value");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='jid-multi' var='a'>"
                                     "<value>ok@example.org</value><value>@bad</value>"
                                     "</field></x>"),
                  "invalid JID value");
    ASSERT_STR_EQ(parse_error(X_OPEN "type='form'><field type='list-single' var='a'>"
                                     "<option label='x'/></field></x>"),
                  "option without value");
    /* Untyped fields in a submission may carry several values; validate decides. */
    ASSERT_NULL(parse_error(X_OPEN "type='submit'><field var='a'><value>1</value>"
                                   "<value>2</value></field></x>"));
    /* An empty value is "no value", not a malformed boolean. */
    ASSERT_NULL(parse_error(X_OPEN "type='form'><field type='boolean' var='a'><value/>"
                                   "</field></x>"));
}

static int
validate(const char *submitted_xml, bool strict, const char **why)
{
    struct dataform *offered = sample_form();
    struct dataform *submitted = parse(submitted_xml, why);
    int rc = submitted != NULL && offered != NULL
                 ? dataform_validate(submitted, offered, strict, why)
                 : -100;
    dataform_free(submitted);
    dataform_free(offered);
    return rc;
}

#define SUBMIT_OK                                                                                  \
    X_OPEN "type='submit'><field var='FORM_TYPE'><value>urn:test:sample</value></field>"           \
           "<field var='username'><value>juliet</value></field>"                                   \
           "<field var='password'><value>pw</value></field>"

TEST(validate_ok)
{
    const char *why = "unset";
    ASSERT_EQ(validate(SUBMIT_OK "</x>", true, &why), 0);
    ASSERT_NULL(why);
    ASSERT_EQ(validate(SUBMIT_OK "<field var='public'><value>true</value></field>"
                                 "<field var='owner'><value>romeo@example.net</value></field>"
                                 "<field var='admins'><value>a@b</value><value>c@d</value></field>"
                                 "<field var='color'><value>blue</value></field>"
                                 "<field var='features'><value>a</value><value>c</value></field>"
                                 "<field var='bio'><value>x</value><value>y</value></field>"
                                 "<field var='owner2x'/></x>",
                       false, &why),
              0);
    /* Without FORM_TYPE in the submission: accepted (it is the offered form's). */
    ASSERT_EQ(validate(X_OPEN "type='submit'><field var='username'><value>a</value></field>"
                              "<field var='password'><value>b</value></field></x>",
                       true, &why),
              0);
    /* Empty values of optional fields are ignored. */
    ASSERT_EQ(validate(SUBMIT_OK "<field var='owner'><value/></field>"
                                 "<field var='color'><value></value></field></x>",
                       true, &why),
              0);
}

TEST(validate_errors)
{
    const char *why = NULL;
    ASSERT_EQ(validate(X_OPEN "type='submit'><field var='username'><value>a</value></field></x>",
                       false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "required field missing");
    ASSERT_EQ(validate(X_OPEN "type='submit'><field var='username'><value>a</value></field>"
                              "<field var='password'><value/></field></x>",
                       false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "required field missing");
    ASSERT_EQ(
        validate(SUBMIT_OK "<field var='color'><value>green</value></field></x>", false, &why),
        YB_EINVAL);
    ASSERT_STR_EQ(why, "value is not one of the options");
    ASSERT_EQ(validate(SUBMIT_OK "<field var='features'><value>a</value><value>z</value></field>"
                                 "</x>",
                       false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "value is not one of the options");
    ASSERT_EQ(validate(SUBMIT_OK "<field var='color'><value>red</value><value>blue</value></field>"
                                 "</x>",
                       false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "several values in a single-valued field");
    ASSERT_EQ(
        validate(SUBMIT_OK "<field var='public'><value>maybe</value></field></x>", false, &why),
        YB_EINVAL);
    ASSERT_STR_EQ(why, "invalid boolean value");
    ASSERT_EQ(validate(SUBMIT_OK "<field var='owner'><value>@@</value></field></x>", false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "invalid JID value");
    ASSERT_EQ(validate(SUBMIT_OK "<field var='extra'><value>1</value></field></x>", true, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "unknown field");
    ASSERT_EQ(validate(SUBMIT_OK "<field var='extra'><value>1</value></field></x>", false, &why),
              0);
    ASSERT_EQ(validate(X_OPEN "type='submit'><field var='FORM_TYPE'><value>urn:other</value>"
                              "</field><field var='username'><value>a</value></field>"
                              "<field var='password'><value>b</value></field></x>",
                       false, &why),
              YB_EINVAL);
    ASSERT_STR_EQ(why, "FORM_TYPE does not match");
}

TEST(round_trip)
{
    struct dataform *f = sample_form();
    ASSERT_NOT_NULL(f);
    struct stanza *st = stanza_new("query", "urn:test");
    ASSERT_NOT_NULL(st);
    struct xml_node *x = dataform_to_xml(f, stanza_root(st));
    ASSERT_NOT_NULL(x);
    ASSERT_STR_EQ(node_attr(x, "type"), "form");
    const char *why = NULL;
    struct dataform *g = dataform_parse(x, &why);
    ASSERT_NOT_NULL(g);
    ASSERT_EQ(g->type, f->type);
    ASSERT_STR_EQ(g->title, f->title);
    ASSERT_STR_EQ(g->instructions, f->instructions);
    ASSERT_EQ(g->n_fields, f->n_fields);
    for (size_t i = 0; i < f->n_fields; i++) {
        const struct dataform_field *a = &f->fields[i], *b = &g->fields[i];
        ASSERT_EQ(a->type, b->type);
        ASSERT_EQ(a->required, b->required);
        ASSERT_TRUE((a->var == NULL && b->var == NULL) ||
                    (a->var && b->var && strcmp(a->var, b->var) == 0));
        ASSERT_TRUE((a->label == NULL && b->label == NULL) ||
                    (a->label && b->label && strcmp(a->label, b->label) == 0));
        ASSERT_TRUE((a->desc == NULL && b->desc == NULL) ||
                    (a->desc && b->desc && strcmp(a->desc, b->desc) == 0));
        ASSERT_EQ(a->n_values, b->n_values);
        for (size_t v = 0; v < a->n_values; v++)
            ASSERT_STR_EQ(a->values[v], b->values[v]);
        ASSERT_EQ(a->n_options, b->n_options);
        for (size_t o = 0; o < a->n_options; o++) {
            ASSERT_STR_EQ(a->options[o].value, b->options[o].value);
            ASSERT_TRUE((a->options[o].label == NULL) == (b->options[o].label == NULL));
        }
    }
    /* Serialising the parsed copy gives the same XML. */
    char *s1 = to_string(f), *s2 = to_string(g);
    ASSERT_NOT_NULL(s1);
    ASSERT_STR_EQ(s1, s2);
    ASSERT_TRUE(strstr(s1, "<instructions>line one</instructions>"
                           "<instructions>line two</instructions>") != NULL);
    yb_free(s1);
    yb_free(s2);
    dataform_free(g);
    dataform_free(f);
    stanza_unref(st);
}

static const char sample_xml[] =
    X_OPEN "type='form'><title>T</title><instructions>i</instructions>"
           "<field type='hidden' var='FORM_TYPE'><value>urn:x</value></field>"
           "<field type='list-single' var='ls' label='L'><desc>d</desc><required/>"
           "<option label='One'><value>1</value></option><value>1</value></field>"
           "<field type='jid-single' var='j'><value>a@b</value></field>"
           "<field type='text-multi' var='t'><value>1</value><value>2</value></field></x>";

TEST(oom)
{
    int completed = 0;
    for (long n = 0; n < 400 && !completed; n++) {
        struct stanza *st = xml(sample_xml);
        struct stanza *out = stanza_new("query", "urn:test");
        if (out == NULL)
            abort();
        const char *why = NULL;
        yb_alloc_fail_after(n);
        struct dataform *f = dataform_parse(stanza_root(st), &why);
        struct dataform *built = NULL;
        struct xml_node *x = NULL;
        int vrc = YB_ENOMEM;
        if (f != NULL) {
            x = dataform_to_xml(f, stanza_root(out));
            built = sample_form();
            if (built != NULL)
                vrc = dataform_validate(f, f, true, &why);
        } else {
            ASSERT_TRUE(why != NULL);
        }
        yb_alloc_fail_after(-1);
        /* A form validates against itself once nothing fails (an OOM inside jid_new
         * reads as an invalid JID, so only a 0 counts as done). */
        if (f != NULL && x != NULL && built != NULL && vrc == 0)
            completed = 1;
        if (x == NULL) /* a failed to_xml leaves nothing behind */
            ASSERT_NULL(node_first_element(stanza_root(out)));
        dataform_free(built);
        dataform_free(f);
        stanza_unref(out);
        stanza_unref(st);
    }
    ASSERT_TRUE(completed);
}

TEST_MAIN(TEST_CASE(build_and_query), TEST_CASE(parse_bool), TEST_CASE(parse_all_types),
          TEST_CASE(parse_malformed), TEST_CASE(validate_ok), TEST_CASE(validate_errors),
          TEST_CASE(round_trip), TEST_CASE(oom))
