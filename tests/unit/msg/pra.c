/* pra.c: the PRA selection of RFC 4407 section 2, one group of tests per
 * step of the RFC (1: Resent-Sender and the Received/Return-Path rule,
 * 2: Resent-From, 3: Sender, 4: From, 5: the chosen field's mailbox, 6:
 * ill-formed messages), over header blocks cut by header_block_split. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/header_block.h"
#include "msg/pra.h"
#include "tap.h"

/* Selects over a header block; "address field" when found, else
 * "none OUTCOME step N". */
static const char *select_in(const char *block)
{
    static char text[PRA_ADDRESS_MAX + 100];
    header_field *fields;
    char err[200];
    int n = header_block_split(block, strlen(block), &fields, NULL, err, sizeof err);
    if (n < 0) {
        snprintf(text, sizeof text, "split error: %s", err);
        return text;
    }
    pra_result r;
    int rc = pra_select(fields, (size_t)n, &r);
    if (rc == 0)
        snprintf(text, sizeof text, "%s %s", r.address, r.field);
    else
        snprintf(text, sizeof text, "none %s step %u", pra_outcome_name(r.outcome), r.step);
    if ((rc == 0) != (r.outcome == PRA_FOUND) || r.reason == NULL)
        snprintf(text, sizeof text, "inconsistent result");
    free(fields);
    return text;
}

int main(void)
{
    /* Step 1: the first non-empty Resent-Sender. */
    TAP_STR_EQ(select_in("Resent-Sender: rs@one.example\n"
                         "Resent-From: rf@one.example\n"
                         "From: f@two.example\n"),
               "rs@one.example resent-sender", "step 1: Resent-Sender wins over Resent-From after it");
    TAP_STR_EQ(select_in("Resent-Sender:  \n"
                         "Resent-Sender: Relay <rs@one.example>\n"
                         "From: f@two.example\n"),
               "rs@one.example resent-sender", "step 1: an empty Resent-Sender is skipped");
    TAP_STR_EQ(select_in("Resent-From: rf@new.example\n"
                         "Resent-Sender: rs@new.example\n"
                         "From: f@two.example\n"),
               "rs@new.example resent-sender",
               "step 1: a Resent-From before it with no trace field between does not count");
    TAP_STR_EQ(select_in("Resent-From: rf@new.example\n"
                         "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
                         "Resent-Sender: rs@old.example\n"
                         "From: f@two.example\n"),
               "rf@new.example resent-from",
               "step 1: Resent-From, Received, Resent-Sender: the older block's sender loses (step 2)");
    TAP_STR_EQ(select_in("Resent-From: rf@new.example\n"
                         "Return-Path: <bounce@old.example>\n"
                         "Resent-Sender: rs@old.example\n"),
               "rf@new.example resent-from", "step 1: Return-Path between counts as Received does");
    TAP_STR_EQ(select_in("Resent-From:\n"
                         "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
                         "Resent-Sender: rs@old.example\n"
                         "From: f@two.example\n"),
               "rs@old.example resent-sender", "step 1: an empty Resent-From before it does not count");
    TAP_STR_EQ(select_in("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
                         "Resent-From: rf@new.example\n"
                         "Resent-Sender: rs@new.example\n"),
               "rs@new.example resent-sender", "step 1: a Received before the Resent-From is not between");
    TAP_STR_EQ(select_in("RESENT-SENDER: rs@one.example\nfrom: f@two.example\n"),
               "rs@one.example resent-sender", "step 1: field names in any case");

    /* Step 2: the first non-empty Resent-From. */
    TAP_STR_EQ(select_in("Resent-From: first@one.example\n"
                         "Resent-From: second@two.example\n"
                         "Sender: s@three.example\n"
                         "From: f@four.example\n"),
               "first@one.example resent-from", "step 2: the first Resent-From, before Sender and From");
    TAP_STR_EQ(select_in("Resent-From: \n"
                         "Resent-From: second@two.example\n"
                         "From: f@four.example\n"),
               "second@two.example resent-from", "step 2: an empty Resent-From is skipped");

    /* Step 3: Sender. */
    TAP_STR_EQ(select_in("From: a@one.example, b@two.example\n"
                         "Sender: Secretary <s@one.example>\n"),
               "s@one.example sender", "step 3: one Sender wins over a From of two mailboxes");
    TAP_STR_EQ(select_in("Sender: s@one.example\nSender: t@two.example\nFrom: f@three.example\n"),
               "none several-sender step 3", "step 3: two Sender fields: ill-formed, no fallback to From");
    TAP_STR_EQ(select_in("Sender:\nSender: t@two.example\nFrom: f@three.example\n"),
               "t@two.example sender", "step 3: an empty Sender does not count");

    /* Step 4: From. */
    TAP_STR_EQ(select_in("To: x@y.example\nFrom: \"Doe, J\" <j@one.example>\n"),
               "j@one.example from", "step 4: the one From field");
    TAP_STR_EQ(select_in("From: a@one.example\nFrom: b@two.example\n"),
               "none several-from step 4", "step 4: two From fields: ill-formed");
    TAP_STR_EQ(select_in("To: x@y.example\nSubject: no sender at all\n"),
               "none no-field step 4", "step 4: no From field: ill-formed");
    TAP_STR_EQ(select_in("From:\nFrom: b@two.example\n"), "b@two.example from",
               "step 4: an empty From does not count");

    /* Step 5: the chosen field must hold one good mailbox; a bad one is
     * not replaced by the next step's field. */
    TAP_STR_EQ(select_in("Resent-From: a@one.example, b@two.example\nFrom: f@three.example\n"),
               "none several-mailboxes step 2", "step 5: several mailboxes in the chosen field");
    TAP_STR_EQ(select_in("Sender: Boss <boss@one.example\nFrom: f@three.example\n"),
               "none bad-mailbox step 3", "step 5: an unparseable mailbox, no fallback to From");
    TAP_STR_EQ(select_in("From: just-a-name\n"), "none bad-mailbox step 4",
               "step 5: a mailbox without an @");
    TAP_STR_EQ(select_in("From: undisclosed-recipients:;\n"), "none no-mailbox step 4",
               "step 5: an empty group holds no mailbox");
    TAP_STR_EQ(select_in("From: user@[192.0.2.1]\n"), "none no-domain step 4",
               "step 5: an address literal is not a domain name");
    TAP_STR_EQ(select_in("From: (comment) Name <a@one.example> (more)\n"), "a@one.example from",
               "step 5: comments around one mailbox are fine");
    TAP_STR_EQ(select_in("From: Team: a@one.example;\n"), "a@one.example from",
               "step 5: a group of one mailbox is one mailbox");
    TAP_STR_EQ(select_in("From: A\r\n <a@one.example>\r\n"), "a@one.example from",
               "step 5: a folded field, CRLF");
    {
        char block[700];
        char local[400];
        memset(local, 'x', sizeof local - 1);
        local[sizeof local - 1] = '\0';
        snprintf(block, sizeof block, "From: %s@one.example\n", local);
        TAP_STR_EQ(select_in(block), "none bad-mailbox step 4",
                   "step 5: a mailbox longer than an address can be is refused, not cut");
    }

    /* Step 6 is every "none" above; the reason says which rule. */
    {
        header_field f[2] = {{"From", 4, " a@one.example", 14}, {"From", 4, " b@two.example", 14}};
        pra_result r;
        TAP_OK(pra_select(f, 2, &r) == -1 && strstr(r.reason, "step 4") != NULL &&
                   r.address[0] == '\0' && r.field == NULL,
               "step 6: the reason names the rule, no address and no field");
        TAP_OK(pra_select(f, 1, &r) == 0 && r.field_index == 0 && strcmp(r.field, "from") == 0,
               "the chosen field's index is given");
        TAP_OK(pra_select(NULL, 0, &r) == -1 && r.outcome == PRA_NO_FIELD, "no fields at all");
    }

    /* The splitter the CLI and the fuzz target use. */
    {
        header_field *fields;
        char err[200];
        size_t body;
        const char msg[] = "From: a@one.example\r\nSubject: x\r\n  y\r\n\r\nbody\r\n";
        int n = header_block_split(msg, sizeof msg - 1, &fields, &body, err, sizeof err);
        TAP_OK(n == 2 && fields[1].value_len == strlen(" x\r\n  y") &&
                   strcmp(msg + body, "body\r\n") == 0,
               "header_block_split: folded value kept whole, body offset after the empty line");
        free(fields);
        TAP_OK(header_block_split(" x\nFrom: a@b.example\n", 20, &fields, NULL, err, sizeof err) == -1 &&
                   strstr(err, "line 1") != NULL,
               "header_block_split: a continuation line first is refused, naming the line");
        TAP_OK(header_block_split("From a@b.example\n", 17, &fields, NULL, err, sizeof err) == -1 &&
                   strstr(err, "no colon") != NULL,
               "header_block_split: a line without a colon is refused");
        TAP_OK(header_block_split("From : a@b.example\n", 19, &fields, NULL, err, sizeof err) == 1 &&
                   fields[0].name_len == 4,
               "header_block_split: blanks before the colon are not part of the name");
        free(fields);
    }
    return tap_done();
}
