/* spf_yaml.h: the openspf.org SPF suites' YAML (../shared/conformance/spf)
 * read in place: tree access and a scenario's zonedata as a da_zone. Shared
 * by the conformance runner and the compiled-policy differential test. */
#ifndef DA_TESTS_SPF_YAML_H
#define DA_TESTS_SPF_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "domauth.h"

const char *node_str(yaml_document_t *doc, yaml_node_t *node);
yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key);
const char *map_str(yaml_document_t *doc, yaml_node_t *map, const char *key);
/* A TXT/SPF value (one string, or a list of character-strings making one
 * record) as bytes; malloc'd. */
char *text_value(yaml_document_t *doc, yaml_node_t *v, size_t *len);
/* The zone of one scenario, following the suite's conventions; NULL with a
 * reason in why. */
da_zone *zone_build(yaml_document_t *doc, yaml_node_t *zonedata, char *why, size_t why_size);

/* One scenario document: its description, tests (a mapping) and zonedata.
 * false when the document is not a scenario. */
typedef struct spf_scenario {
    const char *desc;
    yaml_node_t *tests, *zonedata;
} spf_scenario;
bool scenario_read(yaml_document_t *doc, spf_scenario *out);

#endif
