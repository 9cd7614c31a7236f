/* pages.h: the console's pages, server-rendered HTML (app.c routes to
 * them once the session and, for a POST, the CSRF token are checked).
 * Every value goes through escape.h. */
#ifndef DA_WEB_PAGES_H
#define DA_WEB_PAGES_H

#include "form.h"
#include "web.h"

void page_begin(web_response *r, const char *title, const web_session *s);
void page_end(web_response *r);
/* A form's hidden CSRF field. */
void page_csrf(web_response *r, const web_session *s);
/* A short page with a message (an error, a refusal). */
void page_message(web_response *r, int status, const char *title, const char *text,
                  const web_session *s);

void page_status(web_app *app, const web_request *req, web_response *r, const web_session *s);
void page_history(web_app *app, const web_form *q, web_response *r, const web_session *s);
void page_event(web_app *app, const web_form *q, web_response *r, const web_session *s);
void page_quarantine(web_app *app, const web_form *q, web_response *r, const web_session *s);
void page_quarantine_view(web_app *app, const web_form *q, web_response *r,
                          const web_session *s);
/* POST /quarantine/action (admin): release or delete, one or many. */
void page_quarantine_action(web_app *app, const web_form *f, web_response *r,
                            const web_session *s);

/* GET /rollout?days=N&domain=D: the rollout report (src/report). */
void page_rollout(web_app *app, const web_form *q, web_response *r, const web_session *s);
/* GET /records: the SPF record wizard as a form (pure, no DNS). */
void page_records(web_app *app, const web_form *q, web_response *r, const web_session *s);
/* Settings (settings.c). GET /settings: the effective configuration with
 * each value's origin; GET /settings/edit?section=S&key=K: the form for
 * one value; POST /settings/change and /settings/reset (admin): a new
 * value, or a [domain NAME] section's overrides removed, checked by
 * domauthd before the file is replaced and domauthd reloads. */
void page_settings(web_app *app, web_response *r, const web_session *s);
void page_settings_edit(web_app *app, const web_form *q, web_response *r, const web_session *s);
void page_settings_change(web_app *app, const web_form *f, web_response *r,
                          const web_session *s);
void page_settings_reset(web_app *app, const web_form *f, web_response *r, const web_session *s);

/* The stylesheet, served as /style.css. */
extern const char web_style_css[];

#endif
