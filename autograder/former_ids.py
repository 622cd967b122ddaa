"""Test-cell ids of earlier releases, so that a notebook handed out before a rename still grades cleanly.

Test cells were once all named `<function>_tests`; they now say what they check. A student who
downloaded an earlier release hands in those ids: the grader reads each one as the id it became
(the one that the assignment's source holds; `temporal_softmax_loss_tests` became a different id in
each of its two assignments), so no test cell reads as deleted and no cell of the student's own is moved.
"""
FORMER_TEST_IDS = {
    "rnn_step_forward_tests": ("rnn_step_forward_new_state",),
    "rnn_forward_tests": ("rnn_forward_hidden_states",),
    "temporal_affine_forward_tests": ("temporal_affine_forward_scores",),
    "temporal_softmax_loss_tests": ("temporal_softmax_loss_value", "temporal_softmax_loss_and_gradient"),
    "rnn_step_backward_tests": ("rnn_step_backward_gradients",),
    "rnn_backward_tests": ("rnn_backward_gradients",),
    "temporal_affine_backward_tests": ("temporal_affine_backward_gradients",),
    "loss_and_grads_tests": ("loss_and_grads_every_parameter",),
    "hidden_jacobian_norms_tests": ("hidden_jacobian_norms_per_step",),
    "clip_grad_norm_tests": ("clip_grad_norm_rescaling",),
    "truncated_loss_and_grads_tests": ("truncated_bptt_gradients",),
    "lstm_step_forward_tests": ("lstm_step_forward_gates",),
    "lstm_step_backward_tests": ("lstm_step_backward_gradients",),
    "lstm_forward_tests": ("lstm_forward_sequence",),
    "lstm_backward_tests": ("lstm_backward_gradients",),
    "gru_step_forward_tests": ("gru_step_forward_gates",),
    "gru_step_backward_tests": ("gru_step_backward_gradients",),
    "gru_forward_tests": ("gru_forward_sequence",),
    "gru_backward_tests": ("gru_backward_gradients",),
    "birnn_forward_tests": ("birnn_forward_both_directions",),
    "birnn_backward_tests": ("birnn_backward_gradients",),
    "greedy_search_tests": ("greedy_search_output",),
    "exhaustive_search_tests": ("exhaustive_search_best_sequence",),
    "beam_search_basic_tests": ("beam_search_one_best",),
    "beam_search_n_best_tests": ("beam_search_n_best",),
    "beam_search_length_penalty_tests": ("beam_search_length_penalty",),
    "beam_search_max_len_tests": ("beam_search_at_max_len",),
    "gru_cell_tests": ("gru_cell_step",),
    "encode_tests": ("encode_context",),
    "decode_step_tests": ("decode_step_logits",),
    "seq2seq_forward_tests": ("seq2seq_forward_logits",),
    "masked_cross_entropy_tests": ("masked_cross_entropy_loss",),
    "decode_train_tests": ("decode_train_step_inputs",),
    "train_step_tests": ("train_step_update",),
}


def current_id(grade_id, source_ids):
    """The id a student's cell stands for in a source whose ids are `source_ids`: its own, or the one
    its former name became."""
    if grade_id in source_ids:
        return grade_id
    return next((new for new in FORMER_TEST_IDS.get(grade_id, ()) if new in source_ids), grade_id)
