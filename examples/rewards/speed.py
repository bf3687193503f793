def reward_function(params):
    """Go fast while on the track; slow steps and leaving the track pay almost nothing."""
    if params['is_offtrack'] or not params['all_wheels_on_track']:
        return 1e-3
    speed = params['speed']
    progress = params['progress']
    steps = params['steps']
    reward = (speed / 4.0) ** 2
    if steps > 0 and progress / steps > 0.5:
        reward += 0.5
    return float(reward)
