"""functrace: which call chain did this call come from?"""
# placeholder; the runtime lands in the next commit
