"""A stand-in for a backend's generate(messages, settings): scripted answers, one per call (the last
repeated), and the messages of every call recorded, for tests of prompt/repair-turn logic."""


def scripted(*answers):
    calls = []

    def generate(messages, settings):
        calls.append(messages)
        return answers[min(len(calls), len(answers)) - 1]

    return generate, calls
