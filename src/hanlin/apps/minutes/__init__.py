"""Meeting minutes (会议纪要): transcript in, cited and verified minutes out."""
