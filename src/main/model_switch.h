/*
 * model_switch.h - switching the model a node serves, and with it its whole cluster's.
 *
 * A switch runs on a thread of its own. It opens the new model beside the one served
 * (serving_open: in a cluster, a second node of this node, for the new model, on another node port
 * and with the same id) and tells the members of the cluster (SWITCH: the model, that port, how many
 * nodes to wait for). Each member switches the same way and greets the asker's new node, so the new
 * model's cluster forms beside the old one and plans, shares and loads its layers while the old
 * model still answers. Once the new model can serve here (cluster_serving: every node that offered
 * memory is there, the plan is applied and agreed, every share has arrived) the API takes it
 * (api_server_swap); the requests on the old model finish there, then the old model is freed: its
 * node leaves the old cluster and its memory goes. So "every node loads its layers of the new one,
 * then the old one is released".
 *
 * A switch that cannot complete (no such file or reference, a model too big for the nodes, nodes
 * that do not come) is undone: the new model is freed and the old one serves on. Its error is the
 * line the switch logged (sh_log_capture), or the plan's own (needed against available bytes).
 * One switch at a time: asking for the model being switched to follows that switch, asking for
 * another is refused until it ends. Its state (api_switcher) is what POST /api/shoal/switch
 * streams: what it waits for, the new model's nodes with their layers and the bytes of their
 * shares by source, then success or the error.
 */
#ifndef SHOAL_MODEL_SWITCH_H
#define SHOAL_MODEL_SWITCH_H

#include "main/serving.h"

typedef struct model_switch model_switch;

/* Takes o (copied; a cluster's on_switch set to its own) and opens and loads model, the first one
 * served. NULL on error (logged). */
model_switch *model_switch_init(const serving_opts *o, const char *model);
/* the model served now (cmd_run: for the API's start and its log line) */
serving *model_switch_current(model_switch *ms);
/* the API's view of switches, for api_server_opts */
const api_switcher *model_switch_api(model_switch *ms);
/* From now on switches may run: they hand their model to srv. SH_OK, or SH_ENOMEM. */
int model_switch_start(model_switch *ms, api_server *srv);
/* Cancels a switch that runs and waits for its thread, then stops the scheduler of the model
 * served (its requests end). For shutdown, before api_server_free. */
void model_switch_stop(model_switch *ms);
/* model_switch_stop, then frees the model served. NULL: no-op. */
void model_switch_free(model_switch *ms);

#endif
