/* domauth_net.h: DNS backends that use the network, in libdomauth-net. The
 * core library (domauth.h) opens no sockets; front ends link this too. */
#ifndef DOMAUTH_NET_H
#define DOMAUTH_NET_H

#include "domauth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Blocking c-ares resolver (the command line): da_resolver_run waits for
 * every submitted question. On failure returns NULL with a reason in err.
 * For both c-ares resolvers, da_resolver_free answers every question still
 * pending with SERVFAIL, so nothing waits forever. */
da_resolver *da_resolver_new_cares(const da_resolver_options *options, char *err,
                                   size_t err_size);

/* c-ares driven by a libuv loop: never blocks; callbacks run from the loop.
 * da_resolver_run is a no-op (the loop's owner runs the loop). The loop must
 * outlive the resolver; free the resolver before closing the loop, then run
 * the loop once more so its handles finish closing. */
struct uv_loop_s;
da_resolver *da_resolver_new_uv(struct uv_loop_s *loop, const da_resolver_options *options,
                                char *err, size_t err_size);

/* Checks a server list as the c-ares resolvers read it ("ADDR[:PORT],...",
 * "[V6]:PORT"), without making a resolver: 0, or -1 with the reason. */
int da_resolver_check_servers(const char *servers, char *err, size_t err_size);

/* da_spf_eval_start with a deadline (0: 20000 ms, RFC 7208 section 4.6.4's
 * suggestion): when it passes, the evaluation ends as temperror. */
int da_spf_eval_start_uv(da_spf_eval *eval, struct uv_loop_s *loop, da_resolver *resolver,
                         unsigned deadline_ms, da_spf_done_fn done, void *arg);

#ifdef __cplusplus
}
#endif
#endif
