/* spf_yaml.c: see spf_yaml.h. */
#include "spf_yaml.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ YAML tree */

const char *node_str(yaml_document_t *doc, yaml_node_t *node)
{
    (void)doc;
    if (node == NULL || node->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)node->data.scalar.value;
}

yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = node_str(doc, yaml_document_get_node(doc, p->key));
        if (k != NULL && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

const char *map_str(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    return node_str(doc, map_get(doc, map, key));
}

/* libyaml turns "\x96" into U+0096 and stores it as UTF-8. The suite means
 * bytes (DNS TXT data is bytes), so when every code point of a scalar is
 * below 0x100 this gives the Latin-1 bytes back; otherwise the UTF-8 stays. */
static char *scalar_bytes(const unsigned char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    bool latin1 = true;
    for (size_t i = 0; i < len && latin1;) {
        unsigned c = s[i];
        if (c < 0x80) {
            out[n++] = (char)c;
            i++;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            unsigned cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
            if (cp > 0xFF)
                latin1 = false;
            out[n++] = (char)cp;
            i += 2;
        } else {
            latin1 = false;
        }
    }
    if (!latin1) {
        memcpy(out, s, len);
        n = len;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ------------------------------------------------------------- the zone */

static da_dns_type type_from_name(const char *s)
{
    static const struct {
        const char *name;
        da_dns_type type;
    } types[] = {{"A", DA_DNS_A},       {"AAAA", DA_DNS_AAAA}, {"MX", DA_DNS_MX},
                 {"PTR", DA_DNS_PTR},   {"CNAME", DA_DNS_CNAME}, {"TXT", DA_DNS_TXT},
                 {"SPF", DA_DNS_SPF}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(s, types[i].name) == 0)
            return types[i].type;
    return 0;
}

/* Collects a TXT/SPF value: one string, or a list of character-strings that
 * make one record. Returns a malloc'd buffer. */
char *text_value(yaml_document_t *doc, yaml_node_t *v, size_t *len)
{
    if (v->type == YAML_SCALAR_NODE)
        return scalar_bytes(v->data.scalar.value, v->data.scalar.length, len);
    if (v->type != YAML_SEQUENCE_NODE)
        return NULL;
    size_t total = 0, cap = 64;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        yaml_node_t *s = yaml_document_get_node(doc, *it);
        if (s == NULL || s->type != YAML_SCALAR_NODE)
            continue;
        size_t part_len;
        char *part = scalar_bytes(s->data.scalar.value, s->data.scalar.length, &part_len);
        if (part == NULL)
            break;
        if (total + part_len + 1 > cap) {
            while (total + part_len + 1 > cap)
                cap *= 2;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                free(part);
                break;
            }
            buf = p;
        }
        memcpy(buf + total, part, part_len);
        total += part_len;
        free(part);
    }
    buf[total] = '\0';
    *len = total;
    return buf;
}

/* Adds one "TYPE: value" item of a name. also_txt: an SPF item is also
 * served as TXT (the name has no TXT items of its own). */
static int zone_add_item(da_zone *zone, const char *name, const char *type_name,
                         yaml_document_t *doc, yaml_node_t *v, bool also_txt, char *why,
                         size_t why_size)
{
    da_dns_type type = type_from_name(type_name);
    if (type == 0) {
        snprintf(why, why_size, "%s: unknown record type %s", name, type_name);
        return -1;
    }
    const char *word = node_str(doc, v);
    if (word != NULL && strcmp(word, "NONE") == 0)
        return da_zone_add_name(zone, name);
    if (word != NULL && strcmp(word, "TIMEOUT") == 0) {
        int rc = da_zone_add_failure(zone, name, type, DA_DNS_TIMEOUT);
        if (rc == 0 && type == DA_DNS_SPF && also_txt)
            rc = da_zone_add_failure(zone, name, DA_DNS_TXT, DA_DNS_TIMEOUT);
        return rc;
    }
    da_dns_rr rr = {.type = type};
    switch (type) {
    case DA_DNS_A:
    case DA_DNS_AAAA:
        if (word == NULL ||
            inet_pton(type == DA_DNS_A ? AF_INET : AF_INET6, word, rr.addr) != 1) {
            snprintf(why, why_size, "%s: bad %s value", name, type_name);
            return -1;
        }
        return da_zone_add(zone, name, &rr);
    case DA_DNS_MX: {
        yaml_node_t *pref = NULL, *host = NULL;
        if (v->type == YAML_SEQUENCE_NODE &&
            v->data.sequence.items.top - v->data.sequence.items.start == 2) {
            pref = yaml_document_get_node(doc, v->data.sequence.items.start[0]);
            host = yaml_document_get_node(doc, v->data.sequence.items.start[1]);
        }
        if (node_str(doc, pref) == NULL || node_str(doc, host) == NULL) {
            snprintf(why, why_size, "%s: MX wants [pref, host]", name);
            return -1;
        }
        rr.preference = (uint16_t)strtoul(node_str(doc, pref), NULL, 10);
        rr.name = node_str(doc, host);
        return da_zone_add(zone, name, &rr);
    }
    case DA_DNS_PTR:
    case DA_DNS_CNAME:
        if (word == NULL) {
            snprintf(why, why_size, "%s: %s wants a name", name, type_name);
            return -1;
        }
        rr.name = word;
        return da_zone_add(zone, name, &rr);
    case DA_DNS_TXT:
    case DA_DNS_SPF: {
        size_t len = 0;
        char *text = text_value(doc, v, &len);
        if (text == NULL) {
            snprintf(why, why_size, "%s: bad %s value", name, type_name);
            return -1;
        }
        rr.text = text;
        rr.text_len = len;
        int rc = da_zone_add(zone, name, &rr);
        if (rc == 0 && type == DA_DNS_SPF && also_txt) {
            rr.type = DA_DNS_TXT;
            rc = da_zone_add(zone, name, &rr);
        }
        free(text);
        return rc;
    }
    default:
        break;
    }
    snprintf(why, why_size, "%s: unhandled type %s", name, type_name);
    return -1;
}

/* Builds the zone of one scenario, following the suite's conventions (see
 * ../shared/conformance/spf/README.md). Items keep their order, which the
 * zone respects: TIMEOUT after a record of the asked type does not hide it. */
da_zone *zone_build(yaml_document_t *doc, yaml_node_t *zonedata, char *why,
                           size_t why_size)
{
    da_zone *zone = da_zone_new();
    if (zone == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    if (zonedata == NULL || zonedata->type != YAML_MAPPING_NODE)
        return zone;
    for (yaml_node_pair_t *p = zonedata->data.mapping.pairs.start;
         p < zonedata->data.mapping.pairs.top; p++) {
        const char *name = node_str(doc, yaml_document_get_node(doc, p->key));
        yaml_node_t *list = yaml_document_get_node(doc, p->value);
        if (name == NULL || list == NULL || list->type != YAML_SEQUENCE_NODE)
            continue;
        if (da_zone_add_name(zone, name) != 0) {
            /* e.g. a name over 253 characters: the zone cannot hold it, and
             * a lookup of it is NXDOMAIN anyway. Not an error of the runner. */
            continue;
        }
        bool has_txt = false;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++)
            if (map_get(doc, yaml_document_get_node(doc, *it), "TXT") != NULL)
                has_txt = true;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            const char *word = node_str(doc, item);
            int rc = 0;
            if (word != NULL) {
                if (strcmp(word, "TIMEOUT") == 0)
                    rc = da_zone_add_failure(zone, name, 0, DA_DNS_TIMEOUT);
                else {
                    snprintf(why, why_size, "%s: unknown bare word %s", name, word);
                    rc = -1;
                }
            } else if (item != NULL && item->type == YAML_MAPPING_NODE) {
                for (yaml_node_pair_t *q = item->data.mapping.pairs.start;
                     q < item->data.mapping.pairs.top && rc == 0; q++) {
                    const char *type = node_str(doc, yaml_document_get_node(doc, q->key));
                    yaml_node_t *v = yaml_document_get_node(doc, q->value);
                    if (type == NULL || v == NULL)
                        continue;
                    rc = zone_add_item(zone, name, type, doc, v, !has_txt, why, why_size);
                }
            }
            if (rc != 0) {
                if (why[0] == '\0')
                    snprintf(why, why_size, "%s: could not add a record", name);
                da_zone_free(zone);
                return NULL;
            }
        }
    }
    return zone;
}


bool scenario_read(yaml_document_t *doc, spf_scenario *out)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    out->desc = map_str(doc, root, "description");
    out->tests = map_get(doc, root, "tests");
    out->zonedata = map_get(doc, root, "zonedata");
    return out->desc != NULL && out->tests != NULL && out->tests->type == YAML_MAPPING_NODE;
}
